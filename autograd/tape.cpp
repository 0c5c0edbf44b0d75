// The tape and the backward engine. See Note [Graph lifetime] in tape.hpp.
#include "autograd/tape.hpp"

#include "autograd/autocast.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <unordered_map>

#include "autograd/function.hpp"
#include "autograd/ops.hpp"
#include "autograd/ops/op.hpp"

namespace ag {

namespace detail {
AG_TLS_FAST thread_local bool tl_grad_mode = true;
AG_TLS_FAST thread_local bool tl_anomaly = false;
AG_TLS_FAST thread_local Trace* tl_trace = nullptr;
thread_local std::optional<DType> tl_autocast;  // Note [Autocast] in autocast.hpp
}  // namespace detail

namespace {
void set_autocast(DType dtype, bool enabled) {
  if (enabled && !is_half(dtype)) fail("AutocastGuard", "autocasts to float16 or bfloat16, got {}", dtype);
  detail::tl_autocast = enabled ? std::optional<DType>(dtype) : std::nullopt;
}
}  // namespace

AutocastGuard::AutocastGuard(DType dtype, bool enabled) : prev_(detail::tl_autocast) { set_autocast(dtype, enabled); }
AutocastGuard::AutocastGuard(std::optional<DType> dtype) : prev_(detail::tl_autocast) {
  if (dtype) set_autocast(*dtype, true);
}
AutocastGuard::~AutocastGuard() { detail::tl_autocast = prev_; }
std::optional<DType> autocast_dtype() { return detail::tl_autocast; }

namespace {

std::shared_ptr<Graph>& tape_graph() {
  AG_TLS_FAST thread_local std::shared_ptr<Graph> current;
  return current;
}

// The first NaN or Inf of a floating tensor, or -1.
int64_t first_nonfinite(const Tensor& t) {
  if (!t.defined() || !is_floating(t.dtype())) return -1;
  if (!t.device().is_cpu()) return first_nonfinite(t.to(Device::cpu()));
  const int64_t n = t.numel();
  return visit_dtype(t.dtype(), [&](auto z) -> int64_t {
    using T = decltype(z);
    const T* p = t.impl()->data<T>();
    for (int64_t i = 0; i < n; ++i)
      if (!std::isfinite(static_cast<double>(p[i]))) return i;
    return -1;
  });
}

// NaN prints as "nan" whatever its sign bit, as in tensor printing.
std::string value_text(double v) { return std::isnan(v) ? "nan" : fmt::format("{}", v); }

std::string describe_index(const Shape& shape, int64_t flat) {
  Shape idx(shape.size());
  for (size_t k = shape.size(); k-- > 0;) {
    idx[k] = flat % shape[k];
    flat /= shape[k];
  }
  return fmt::format("{}", idx);
}

}  // namespace

// ---- Recording ---------------------------------------------------------------

namespace {

// Chunks of reset nodes left by destroyed graphs, for the next graph on this
// thread (at most kMaxCachedChunks; freed directly once the thread's cache is gone).
constexpr size_t kMaxCachedChunks = 1024;
struct ChunkCache {
  std::vector<NodeList::Chunk> chunks;
  ChunkCache();
  ~ChunkCache();
};
AG_TLS_FAST thread_local ChunkCache* tl_chunks = nullptr;
ChunkCache::ChunkCache() { tl_chunks = this; }
ChunkCache::~ChunkCache() { tl_chunks = nullptr; }

ChunkCache* chunk_cache() {
  if (tl_chunks) [[likely]]
    return tl_chunks;
  thread_local ChunkCache cache;
  return tl_chunks;
}

}  // namespace

NodeList::Chunk NodeList::take_chunk() {
  ChunkCache* c = chunk_cache();
  if (c && !c->chunks.empty()) {
    Chunk ch = std::move(c->chunks.back());
    c->chunks.pop_back();
    return ch;
  }
  return std::make_unique<Node[]>(kChunk);
}

NodeList::~NodeList() {
  clear();
  ChunkCache* c = tl_chunks;
  for (Chunk& ch : chunks_) {
    if (!c || c->chunks.size() >= kMaxCachedChunks) break;
    c->chunks.push_back(std::move(ch));
  }
}

Node* detail::record_node(Op op, std::span<const Tensor> inputs, Tensor& out, const Attrs& attrs,
                          std::shared_ptr<Function> function) {
  auto& current = tape_graph();
  if (!current || current->released) {
    current = std::make_shared<Graph>();
  } else if (current.use_count() == 1) {
    current->nodes.clear();  // no tensor refers to these nodes any more
  }
  Graph* graph = current.get();
  const auto index = static_cast<int32_t>(graph->nodes.size());
  Node& n = graph->nodes.emplace_back();
  n.op = op;
  n.attrs = attrs;
  n.function = std::move(function);
  n.inputs.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    TensorImpl* t = inputs[i].impl();
    Edge& e = n.inputs[i];
    if (t->node >= 0 && t->graph) {
      if (t->graph.get() == graph) {
        e.node = t->node;
      } else if (t->graph->released) {
        e.released = true;
      } else {
        graph->nodes.pop_back();
        fail(op_name(op),
             "input {} was recorded on another thread's tape; each thread records its own graph. "
             "Call detach() to use its value here",
             i);
      }
    } else if (t->requires_grad) {
      e.leaf = inputs[i].impl_ptr();
    }
  }
  TensorImpl* o = out.impl();
  o->graph = current;
  o->node = index;
  o->requires_grad = true;
  n.out_shape = o->shape;
  n.out_dtype = o->dtype;
  n.out_device = o->storage->device;
  if (tl_trace) [[unlikely]]
    tl_trace->on_record(graph, index, n, inputs, out);
  return &n;
}

void detail::check_anomaly_forward(Op op, const Tensor& out) {
  int64_t bad = first_nonfinite(out);
  if (bad < 0) return;
  const auto& g = tape_graph();
  const size_t next = g && !g->released && g.use_count() > 1 ? g->nodes.size() : 0;
  fail(op_name(op), "anomaly: forward produced {} at index {} of its output of shape {} (node #{} on the tape)",
       value_text(out.value_at(bad)), describe_index(out.shape(), bad), out.shape(), next);
}

size_t SavedTensor::bytes() const {
  if (leaf) return leaf->storage->bytes;
  return storage ? storage->bytes : 0;
}

void Node::save(const Tensor& t) {
  SavedTensor& s = saved.emplace_back();
  TensorImpl* impl = t.impl();
  s.version = impl->storage->version;
  if (impl->node >= 0 && impl->graph) {
    s.storage = impl->storage;
    s.shape = impl->shape;
    s.dtype = impl->dtype;
    s.node = impl->node;
    s.name = impl->name;
  } else {
    s.leaf = t.impl_ptr();
  }
}

// ---- The backward context -------------------------------------------------------

const Attrs& BackwardCtx::attrs() const { return node_.attrs; }
int BackwardCtx::num_inputs() const { return static_cast<int>(node_.inputs.size()); }
bool BackwardCtx::needs_grad(int input) const {
  const Edge& e = node_.inputs[static_cast<size_t>(input)];
  return e.node >= 0 || e.leaf || e.released;
}

// Note [Versions]
// Every in-place write bumps its storage's version. A node remembers the
// version of each tensor it saved; unpacking a saved tensor whose storage has
// moved on means the rule would read values that are not the ones the forward
// used (typically: weights updated between forward and backward).
Tensor BackwardCtx::saved(int i) const {
  AG_ASSERT(i >= 0 && static_cast<size_t>(i) < node_.saved.size(), "saved tensor index out of range");
  const SavedTensor& s = node_.saved[static_cast<size_t>(i)];
  const Storage& st = s.leaf ? *s.leaf->storage : *s.storage;
  if (st.version != s.version) {
    const std::string& name = s.leaf ? s.leaf->name : s.name;
    fail("backward",
         "{} node: saved tensor {}{}{} of shape {} was modified in place after the forward pass saved it "
         "(version {} when saved, now {}). Update it after backward() (e.g. the optimiser step), or save a "
         "clone()",
         op_name(node_.op), i, name.empty() ? "" : " '", name.empty() ? "" : name + "'",
         s.leaf ? s.leaf->shape : s.shape, s.version, st.version);
  }
  if (s.leaf) return Tensor(s.leaf);
  auto impl = new_impl();
  impl->storage = s.storage;
  impl->shape = s.shape;
  impl->numel = shape_numel(s.shape);
  impl->dtype = s.dtype;
  impl->name = s.name;
  if (grad_mode_enabled() && graph_) {
    // create_graph: reconnect to the node that produced it, so the rule is differentiable
    impl->requires_grad = true;
    impl->node = s.node;
    AG_ASSERT(tape_graph().get() == graph_, "create_graph backward on a graph that is not the thread's live graph");
    impl->graph = tape_graph();
  }
  return Tensor(std::move(impl));
}

// ---- The engine -----------------------------------------------------------------

namespace {

struct Capture {
  TensorImpl* leaf = nullptr;  // a leaf input, or
  int32_t node = -1;           // a recorded input
  Tensor grad;
};

// A gradient buffer we may add into in place: not shared with anyone else.
Tensor owned_copy(const Tensor& g) {
  if (g.impl_ptr().use_count() == 1 && g.impl()->storage.use_count() == 1) return g;
  return g.detach().clone();
}

void accumulate_leaf(TensorImpl* leaf, const Tensor& g, bool create_graph) {
  if (!leaf->grad) {
    leaf->grad = create_graph ? g.impl_ptr() : owned_copy(g).impl_ptr();
  } else if (create_graph || leaf->grad->requires_grad) {
    leaf->grad = (Tensor(leaf->grad) + g).impl_ptr();
  } else {
    Tensor(leaf->grad).add_(g);
  }
}

void accumulate_node(Node& m, const Tensor& g, bool create_graph) {
  if (!m.grad.defined()) {
    m.grad = g;
    m.grad_owned = false;
  } else if (create_graph) {
    m.grad = m.grad + g;
  } else if (m.grad_owned) {
    m.grad.add_(g);
  } else {
    m.grad = m.grad + g;
    m.grad_owned = true;
  }
}

[[noreturn]] void released_error(std::string_view op) {
  fail(op,
       "trying to backward through a graph that was already released: a backward() releases this thread's "
       "whole tape (every node recorded since the previous backward), including graphs it did not reach. "
       "Sum the losses and call backward() once, pass BackwardOptions{{.retain_graph = true}} to the earlier "
       "backward(), or recompute the forward pass");
}

// What a rule returned for input j must match the input: shape, dtype and device.
void check_grad(const Node& n, size_t j, const Tensor& g, const Shape& want_shape, DType want_dtype,
                Device want_device) {
  if (g.shape() != want_shape || g.dtype() != want_dtype)
    fail("backward",
         "the {} rule returned a gradient of shape {} and dtype {} for input {}, which has shape {} and dtype {}",
         op_name(n.op), g.shape(), g.dtype(), j, want_shape, want_dtype);
  if (g.device() != want_device)
    fail("backward",
         "the {} rule returned a gradient on device {} for input {}, which is on device {}; return it on the "
         "input's device (Tensor::to)",
         op_name(n.op), g.device(), j, want_device);
  if (detail::tl_anomaly) {
    int64_t bad = first_nonfinite(g);
    if (bad >= 0)
      fail("backward", "anomaly: the {} rule produced {} at index {} of the gradient of input {} (shape {})",
           op_name(n.op), value_text(g.value_at(bad)), describe_index(g.shape(), bad), j, g.shape());
  }
}

// The graph all recorded roots live on (null when every root is a leaf),
// after checking that backward can start from each root.
std::shared_ptr<Graph> graph_of(std::span<const Tensor> roots, std::string_view who) {
  std::shared_ptr<Graph> graph;
  for (const Tensor& r : roots) {
    if (!r.defined()) fail(who, "an output is an undefined tensor");
    if (!r.requires_grad())
      fail(who,
           "the output of shape {} does not require grad: no input of the ops that computed it requires grad, "
           "or it was computed under NoGradGuard. Call requires_grad_() on the parameters first",
           r.shape());
    TensorImpl* impl = r.impl();
    if (impl->node < 0) continue;
    if (!impl->graph || impl->graph->released) released_error(who);
    if (graph && graph != impl->graph) fail(who, "the outputs were recorded on different graphs");
    graph = impl->graph;
  }
  if (graph && graph != tape_graph())
    fail(who, "the output was recorded on another thread's tape; call backward on the thread that recorded it");
  return graph;
}

// Where ag::grad collects the gradient of each of its inputs (none for backward()).
std::vector<Capture> captures_of(std::span<const Tensor> inputs, const std::shared_ptr<Graph>& graph,
                                 std::string_view who) {
  std::vector<Capture> caps(inputs.size());
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    if (!x.defined() || !x.requires_grad())
      fail(who, "input {} does not require grad, so it has no gradient; call requires_grad_() on it", k);
    if (x.impl()->node >= 0) {
      if (x.impl()->graph != graph) fail(who, "input {} was recorded on a different graph than the outputs", k);
      caps[k].node = x.impl()->node;
    } else {
      caps[k].leaf = x.impl();
    }
  }
  return caps;
}

std::vector<BackwardHook*>& backward_hooks() {
  thread_local std::vector<BackwardHook*> hooks;
  return hooks;
}

// Note [Backward hooks]: when each leaf of a pass gets its last gradient.
struct LeafTracker {
  struct Entry {
    int32_t last = -1;  // the lowest node with an edge to the leaf
    bool received = false;
  };
  std::unordered_map<TensorImpl*, Entry> leaves;
  std::vector<std::pair<int32_t, TensorImpl*>> order;  // by last sender, highest first
  size_t next = 0;

  void build(const Graph& g, int32_t top) {
    for (int32_t i = 0; i <= top; ++i)
      for (const Edge& e : g.nodes[static_cast<size_t>(i)].inputs)
        if (e.leaf) leaves.try_emplace(e.leaf.get(), Entry{i, false});
    order.reserve(leaves.size());
    for (auto& [leaf, entry] : leaves) order.emplace_back(entry.last, leaf);
    std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  }
  void delivered(TensorImpl* leaf) {
    auto it = leaves.find(leaf);
    if (it != leaves.end()) it->second.received = true;
  }
  // Reports every leaf whose last sender is at or above node i.
  void ready_down_to(int32_t i) {
    for (; next < order.size() && order[next].first >= i; ++next) {
      TensorImpl* leaf = order[next].second;
      const bool got = leaves[leaf].received;
      for (BackwardHook* h : backward_hooks()) h->leaf_ready(leaf, got);
    }
  }
};

// One run of the engine over a graph, in one of two modes: backward()
// accumulates into the leaves' (and retained outputs') .grad; ag::grad
// (capture) collects the gradients of its inputs and leaves every .grad alone.
struct BackwardPass {
  std::shared_ptr<Graph> graph;
  BackwardOptions opts;
  std::vector<Capture> caps;
  bool capture = false;
  std::string_view who;
  LeafTracker* tracker = nullptr;  // Note [Backward hooks]

  // A gradient for a leaf: into its .grad, or into the captures that name it.
  void deliver_leaf(TensorImpl* leaf, const Tensor& g) {
    if (!capture) {
      accumulate_leaf(leaf, g, opts.create_graph);
      if (tracker) [[unlikely]]
        tracker->delivered(leaf);
      if (detail::tl_trace) [[unlikely]]
        detail::tl_trace->on_leaf_grad(leaf);
      return;
    }
    for (Capture& c : caps) {
      if (c.leaf != leaf) continue;
      if (!c.grad.defined()) c.grad = g;
      else c.grad = c.grad + g;
    }
  }

  // Seeds dL/dL (or the given upstream gradients) into the roots; returns the
  // highest root node, where the walk starts (-1 when every root is a leaf).
  int32_t seed(std::span<const Tensor> roots, std::span<const Tensor> root_grads) {
    int32_t top = -1;
    for (size_t r = 0; r < roots.size(); ++r) {
      const Tensor& root = roots[r];
      Tensor seed;
      if (!root_grads.empty() && root_grads[r].defined()) {
        seed = root_grads[r];
        if (seed.shape() != root.shape() || seed.dtype() != root.dtype())
          fail(who, "the upstream gradient has shape {} and dtype {}, but the output has shape {} and dtype {}",
               seed.shape(), seed.dtype(), root.shape(), root.dtype());
      } else {
        if (root.numel() != 1)
          fail(who,
               "the output has shape {}; dL/dL = 1 is only defined for a scalar loss. Pass an upstream gradient "
               "of shape {} (e.g. ones_like(output)), or reduce the output to a scalar first",
               root.shape(), root.shape());
        seed = ones_like(root.detach());
      }
      TensorImpl* impl = root.impl();
      if (impl->node < 0) {
        deliver_leaf(impl, seed);
      } else {
        accumulate_node(graph->nodes[static_cast<size_t>(impl->node)], seed, opts.create_graph);
        top = std::max(top, impl->node);
      }
    }
    return top;
  }

  // Runs node i if a gradient reached it (else nothing depends on it): hands
  // its gradient to a retained output or a capture, calls its rule and routes
  // what the rule returned.
  void run_node(int32_t i) {
    Node& n = graph->nodes[static_cast<size_t>(i)];
    if (!n.grad.defined()) return;
    Tensor gy = std::move(n.grad);
    n.grad = Tensor();
    if (!capture)
      if (auto out = n.retained.lock()) accumulate_leaf(out.get(), gy, opts.create_graph);
    if (capture)
      for (Capture& c : caps)
        if (c.node == i) c.grad = gy;

    Grads gx = call_rule(n, i, gy);
    if (detail::tl_trace) [[unlikely]]
      detail::tl_trace->on_backward(graph.get(), i, n, gy, gx);
    route(n, gx);
    if (!opts.retain_graph) n.saved.clear();
  }

  // The gradients node i's rule returns for its inputs, given gy; an error
  // raised inside the rule names the op and the node.
  Grads call_rule(Node& n, int32_t i, const Tensor& gy) {
    const OpInfo& info = op_info(n.op);
    AG_ASSERT(info.backward != nullptr, "a recorded op has no backward rule");
    Grads gx(n.inputs.size());
    BackwardCtx ctx(n, opts.create_graph ? graph.get() : nullptr);
    try {
      // Inside a rule, the anomaly check applies to the gradients it returns (named after the rule).
      const bool anomaly = detail::tl_anomaly;
      detail::tl_anomaly = false;
      try {
        info.backward(ctx, gy, gx);
      } catch (...) {
        detail::tl_anomaly = anomaly;
        throw;
      }
      detail::tl_anomaly = anomaly;
    } catch (const Error& e) {
      throw Error(fmt::format("{} (raised in the backward rule of {}, node #{})", e.what(), op_name(n.op), i));
    }
    return gx;
  }

  // Checks each gradient the rule returned against its input and sends it
  // along the input's edge: to the node that computed the input, or to a leaf.
  void route(const Node& n, const Grads& gx) {
    for (size_t j = 0; j < n.inputs.size(); ++j) {
      const Edge& e = n.inputs[j];
      if (!gx[j].defined()) continue;
      if (e.released) released_error(who);
      if (e.node >= 0) {
        Node& m = graph->nodes[static_cast<size_t>(e.node)];
        check_grad(n, j, gx[j], m.out_shape, m.out_dtype, m.out_device);
        accumulate_node(m, gx[j], opts.create_graph);
      } else if (e.leaf) {
        check_grad(n, j, gx[j], e.leaf->shape, e.leaf->dtype, e.leaf->storage->device);
        deliver_leaf(e.leaf.get(), gx[j]);
      }
    }
  }

  // ag::grad's answer: the captured gradients, in the order of its inputs.
  std::vector<Tensor> results(std::span<const Tensor> inputs, bool allow_unused) const {
    std::vector<Tensor> result;
    if (!capture) return result;
    result.reserve(caps.size());
    for (size_t k = 0; k < caps.size(); ++k) {
      if (!caps[k].grad.defined() && !allow_unused)
        fail(who, "input {} of shape {} does not affect the outputs; pass allow_unused = true to get an "
                  "undefined gradient for it instead",
             k, inputs[k].shape());
      result.push_back(caps[k].grad);
    }
    return result;
  }
};

// Frees the graph's nodes after a backward without retain_graph; a later
// backward through it fails with released_error.
void release(const std::shared_ptr<Graph>& graph) {
  if (!graph) return;
  graph->released = true;
  graph->nodes.clear();
  if (tape_graph() == graph) tape_graph().reset();
}

std::vector<Tensor> run_backward(std::span<const Tensor> roots, std::span<const Tensor> root_grads,
                                 BackwardOptions opts, std::span<const Tensor> inputs, bool allow_unused,
                                 std::string_view who) {
  if (opts.create_graph) opts.retain_graph = true;
  if (!root_grads.empty() && root_grads.size() != roots.size())
    fail(who, "got {} outputs but {} upstream gradients", roots.size(), root_grads.size());
  std::shared_ptr<Graph> graph = graph_of(roots, who);
  BackwardPass pass{graph, opts, captures_of(inputs, graph, who), !inputs.empty(), who};

  GradModeGuard mode(opts.create_graph);
  std::optional<LeafTracker> tracker;
  const bool hooked = !pass.capture && !backward_hooks().empty();
  try {
    const int32_t top = pass.seed(roots, root_grads);
    if (hooked && graph) {
      tracker.emplace();
      tracker->build(*graph, top);
      pass.tracker = &*tracker;
    }
    // Recording order is topological, so walking the tape backwards from the
    // highest root runs each node after every node that sends it a gradient.
    for (int32_t i = top; i >= 0; --i) {
      pass.run_node(i);
      if (tracker) tracker->ready_down_to(i);
    }
  } catch (...) {
    if (graph)
      for (Node& n : graph->nodes) n.grad = Tensor();
    if (hooked)
      for (BackwardHook* h : backward_hooks()) h->backward_done(false);
    throw;
  }

  if (!opts.retain_graph) release(graph);
  if (hooked)  // after the release: a hook that throws leaves the tape as a plain backward would
    for (BackwardHook* h : backward_hooks()) h->backward_done(true);
  return pass.results(inputs, allow_unused);
}

}  // namespace

void add_backward_hook(BackwardHook* hook) { backward_hooks().push_back(hook); }
void remove_backward_hook(BackwardHook* hook) { std::erase(backward_hooks(), hook); }

void backward(const Tensor& root, const Tensor& grad, const BackwardOptions& opts) {
  Tensor g[1] = {grad};
  run_backward({&root, 1}, grad.defined() ? std::span<const Tensor>(g) : std::span<const Tensor>(), opts, {}, false,
               "backward");
}

std::vector<Tensor> grad(std::span<const Tensor> outputs, std::span<const Tensor> inputs,
                         std::span<const Tensor> grad_outputs, const BackwardOptions& opts, bool allow_unused) {
  if (inputs.empty()) fail("grad", "no inputs given: name the tensors to differentiate with respect to");
  return run_backward(outputs, grad_outputs, opts, inputs, allow_unused, "grad");
}

namespace {
// The thread's live graph, or null; a graph no tensor refers to any more is cleared here.
Graph* live_graph() {
  auto& g = tape_graph();
  if (!g || g->released) return nullptr;
  if (g.use_count() == 1) g->nodes.clear();
  return g.get();
}
}  // namespace

TapeStats tape_stats() {
  TapeStats s;
  Graph* g = live_graph();
  if (!g) return s;
  s.nodes = g->nodes.size();
  for (const Node& n : g->nodes)
    for (const SavedTensor& t : n.saved) s.saved_bytes += t.bytes();
  return s;
}

std::shared_ptr<Graph> current_graph() {
  if (!live_graph()) return nullptr;
  return tape_graph();
}

// ---- Tensor's autograd methods ----------------------------------------------------

void Tensor::backward(const BackwardOptions& opts) const { ag::backward(*this, Tensor(), opts); }
void Tensor::backward(const Tensor& grad, const BackwardOptions& opts) const { ag::backward(*this, grad, opts); }

Tensor& Tensor::retain_grad() {
  TensorImpl* impl = impl_.get();
  if (!checked().requires_grad) fail("retain_grad", "the tensor does not require grad");
  if (impl->node < 0) return *this;  // leaves keep their gradient anyway
  if (impl->graph && !impl->graph->released)
    impl->graph->nodes[static_cast<size_t>(impl->node)].retained = impl_;
  impl->retains_grad = true;
  return *this;
}

}  // namespace ag
