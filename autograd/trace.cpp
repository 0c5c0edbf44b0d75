// The Trace (what graph dumps and per-node checks read) and NameScope: the
// tape reports to the Trace through its on_record/on_backward hooks. See
// tape.hpp, section Tracing.
#include <map>
#include <string>
#include <vector>

#include "autograd/function.hpp"
#include "autograd/ops.hpp"
#include "autograd/ops/op.hpp"
#include "autograd/tape.hpp"

namespace ag {

namespace {
std::string node_label(const Node& n) {
  if (n.function) return std::string(n.function->name());
  return std::string(op_name(n.op));
}

Tensor snapshot(const Tensor& t) {
  if (!t.defined()) return Tensor();
  GradModeGuard off(false);
  return t.detach().clone();
}
}  // namespace

Trace::Trace() : prev_(detail::tl_trace) {
  if (prev_) fail("Trace", "a Trace is already active on this thread; end it before starting another");
  detail::tl_trace = this;
}
Trace::~Trace() { detail::tl_trace = prev_; }

void Trace::clear() {
  values_.clear();
  steps_.clear();
  backward_order_.clear();
  node_steps_.clear();
  leaf_values_.clear();
}

std::string Trace::Value::name() const {
  if (leaf) return leaf->name;
  if (auto o = output.lock()) return o->name;
  return "";
}

int Trace::value_of_input(const Graph* graph, const Tensor& t) {
  TensorImpl* impl = t.impl();
  if (impl->node >= 0 && impl->graph.get() == graph) {
    auto it = node_steps_.find({graph, impl->node});
    if (it != node_steps_.end()) return steps_[static_cast<size_t>(it->second)].output;
  }
  if (auto it = leaf_values_.find(impl); it != leaf_values_.end()) return it->second;
  Value v;
  v.shape = t.shape();
  v.dtype = t.dtype();
  v.data = snapshot(t);
  v.leaf = t.impl_ptr();
  v.requires_grad = impl->requires_grad;
  values_.push_back(std::move(v));
  leaf_values_[impl] = static_cast<int>(values_.size() - 1);
  return static_cast<int>(values_.size() - 1);
}

void Trace::on_record(const Graph* graph, int32_t node_index, const Node& node, std::span<const Tensor> inputs,
                      const Tensor& out) {
  Step st;
  st.op = node.op;
  st.scope = NameScope::current();
  st.label = node_label(node);
  st.graph = graph;
  st.node = node_index;
  st.attrs = node.attrs;
  for (const Tensor& t : inputs) st.inputs.push_back(value_of_input(graph, t));
  Value v;
  v.shape = out.shape();
  v.dtype = out.dtype();
  v.data = snapshot(out);
  v.output = out.impl_ptr();
  v.step = static_cast<int>(steps_.size());
  v.requires_grad = true;
  values_.push_back(std::move(v));
  st.output = static_cast<int>(values_.size() - 1);
  node_steps_[{graph, node_index}] = static_cast<int>(steps_.size());
  steps_.push_back(std::move(st));
}

namespace {

// The node's own rule run again with a unit upstream gradient: the local
// derivatives a dump shows, from the one place the calculus is written. Not
// for user-defined ops: their backward is the user's code, run only by backward.
std::vector<Tensor> local_derivatives(const Node& node, const Tensor& gy) {
  const OpInfo& info = op_info(node.op);
  if (node.op == Op::custom || !info.backward) return {};
  Grads local(node.inputs.size());
  try {
    NoGradGuard off;
    BackwardCtx ctx(node, nullptr);
    info.backward(ctx, ones_like(gy.detach()), local);
  } catch (const Error&) {
    return {};  // a saved tensor changed in place since: backward itself reports that
  }
  return {local.begin(), local.end()};
}

}  // namespace

void Trace::on_backward(const Graph* graph, int32_t node_index, const Node& node, const Tensor& gy,
                        std::span<const Tensor> gx) {
  auto it = node_steps_.find({graph, node_index});
  if (it == node_steps_.end()) return;  // recorded before the trace began
  Step& st = steps_[static_cast<size_t>(it->second)];
  st.upstream = snapshot(gy);
  st.downstream.clear();
  for (const Tensor& g : gx) st.downstream.push_back(snapshot(g));
  st.local.clear();
  for (const Tensor& g : local_derivatives(node, gy)) st.local.push_back(snapshot(g));
  values_[static_cast<size_t>(st.output)].grad = st.upstream;
  backward_order_.push_back(it->second);
}

void Trace::on_leaf_grad(TensorImpl* leaf) {
  if (auto it = leaf_values_.find(leaf); it != leaf_values_.end())
    values_[static_cast<size_t>(it->second)].grad = snapshot(Tensor(leaf->grad));
}

namespace {
std::string& scope_path() {
  thread_local std::string path;
  return path;
}
}  // namespace

NameScope::NameScope(std::string name) : prev_size_(scope_path().size()) {
  std::string& p = scope_path();
  if (!p.empty()) p += '/';
  p += name;
}
NameScope::~NameScope() { scope_path().resize(prev_size_); }
const std::string& NameScope::current() { return scope_path(); }

}  // namespace ag
