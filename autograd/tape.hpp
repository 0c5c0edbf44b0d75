// The dynamic tape: one per thread. Every differentiable op executed while
// recording is on, with at least one input that requires a gradient, appends
// one Node; backward walks the nodes in reverse (recording order is already a
// topological order) and applies each op's backward rule.
#pragma once

#include "config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <boost/container/small_vector.hpp>

#include "ops/attrs.hpp"
#include "tensor.hpp"

namespace ag {

class Function;

// Note [Graph lifetime]
// A thread's tape holds one live Graph: the nodes recorded since the last
// backward. Every tensor an op recorded holds a shared_ptr to that Graph and
// its node index, so the Graph lives while any such tensor does. It ends when
// (a) a backward without retain_graph releases it: its nodes are freed and any
// later backward through them is an error that names retain_graph; or (b) no
// recorded tensor refers to it any more: the next op starts a fresh Graph, so
// a loop that forgets NoGradGuard does not grow the tape forever. Nodes never
// point at tensors that point back at the graph, so there are no cycles:
// saved tensors keep their data and node index, not the Graph.

// Where a node's input gets its gradient: another node on the same graph, a
// leaf's .grad, nowhere (a constant), or a released graph (an error if reached).
struct Edge {
  int32_t node = -1;
  bool released = false;
  std::shared_ptr<TensorImpl> leaf;
};

// A tensor a backward rule needs, kept as data plus where it was recorded.
struct SavedTensor {
  std::shared_ptr<TensorImpl> leaf;  // a leaf or constant: the tensor itself
  std::shared_ptr<Storage> storage;  // a recorded tensor: its data, shape and node
  Shape shape;
  DType dtype = DType::float32;
  int32_t node = -1;
  uint32_t version = 0;  // Note [Versions]
  std::string name;
  size_t bytes() const;
};

struct Node {
  Op op;
  boost::container::small_vector<Edge, 2> inputs;
  boost::container::small_vector<SavedTensor, 2> saved;
  Attrs attrs;
  Shape out_shape;
  DType out_dtype = DType::float32;
  Device out_device = Device::cpu();  // gradients sent to the output must be on it too
  Tensor grad;              // upstream gradient accumulated so far
  bool grad_owned = false;  // grad is a buffer of our own, safe to add into in place
  std::weak_ptr<TensorImpl> retained;  // output that asked for retain_grad()
  std::shared_ptr<Function> function;  // Op::custom: the user's op (autograd/function.hpp)

  // Keeps `t` for the backward rule (see SavedTensor).
  void save(const Tensor& t);
  // Drops what the node holds (edges, saved tensors, gradient, function) for
  // reuse; the plain fields are overwritten by the next record.
  void reset() {
    inputs.clear();
    saved.clear();
    grad = Tensor();
    grad_owned = false;
    retained.reset();
    function.reset();
  }
};

// Nodes in recording order, kept in chunks that never move (rules recorded
// during a create_graph backward append while the engine holds references)
// and are reused after clear(), so recording a node allocates nothing. A
// destroyed list hands its chunks to a per-thread cache that the next graph
// takes them from: a training loop starts a fresh graph every step.
class NodeList {
 public:
  static constexpr size_t kChunk = 256;
  using Chunk = std::unique_ptr<Node[]>;

  NodeList() = default;
  NodeList(const NodeList&) = delete;
  NodeList& operator=(const NodeList&) = delete;
  ~NodeList();

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  Node& operator[](size_t i) { return chunks_[i / kChunk][i % kChunk]; }
  const Node& operator[](size_t i) const { return chunks_[i / kChunk][i % kChunk]; }
  // A fresh node at the end.
  Node& emplace_back() {
    if (size_ == chunks_.size() * kChunk) chunks_.push_back(take_chunk());
    return (*this)[size_++];
  }
  void pop_back() { (*this)[--size_].reset(); }
  // Frees what the nodes hold (saved tensors, gradients) but keeps the chunks.
  void clear() {
    for (size_t i = 0; i < size_; ++i) (*this)[i].reset();
    size_ = 0;
  }

  template <class L, class N>
  struct Iter {
    L* list;
    size_t i;
    N& operator*() const { return (*list)[i]; }
    Iter& operator++() { return ++i, *this; }
    bool operator!=(const Iter& o) const { return i != o.i; }
  };
  Iter<NodeList, Node> begin() { return {this, 0}; }
  Iter<NodeList, Node> end() { return {this, size_}; }
  Iter<const NodeList, const Node> begin() const { return {this, 0}; }
  Iter<const NodeList, const Node> end() const { return {this, size_}; }

 private:
  static Chunk take_chunk();  // from this thread's cache, or new
  std::vector<Chunk> chunks_;
  size_t size_ = 0;
};

struct Graph {
  NodeList nodes;
  bool released = false;
};

// ---- Tracing ---------------------------------------------------------------------

// While a Trace is alive, the thread's tape also reports to it every node it
// records (op, attrs, input and output values) and every backward step (the
// upstream gradient and the gradients the rule returned). Graph dumps and the
// per-node gradient checker read it; it copies values, so it is for teaching
// and debugging, not for training runs. One Trace per thread at a time.
class Trace {
 public:
  // A tensor seen by the trace: an op's output, or a leaf or constant input.
  struct Value {
    Shape shape;
    DType dtype = DType::float32;
    Tensor data;                                // a copy of the values when recorded
    std::shared_ptr<TensorImpl> leaf;           // leaves and constants: the tensor itself
    std::weak_ptr<TensorImpl> output;           // op outputs: the tensor, while it lives
    int step = -1;                              // the step that produced it, or -1
    bool requires_grad = false;
    Tensor grad;                                // after backward: its gradient (copied)
    // The user's name for it now (set_name), or empty.
    std::string name() const;
  };
  // One recorded node.
  struct Step {
    Op op;
    Attrs attrs;
    std::vector<int> inputs;  // value ids
    int output = -1;          // value id
    std::string label;        // the op's name, or a user-defined op's own name
    const Graph* graph = nullptr;  // where it was recorded, and its node index there
    int32_t node = -1;
    Tensor upstream;          // after backward: dL/d(output) arriving at this node
    std::vector<Tensor> downstream;  // after backward: dL/d(input i) from the rule (undefined: none)
    std::vector<Tensor> local;       // after backward: the rule run with a unit upstream gradient, i.e.
                                     // d(sum of output)/d(input i): the local derivative (undefined: none)
    std::string scope;               // the NameScope path it was recorded in ("net/fc1"), or empty
  };

  Trace();
  ~Trace();
  Trace(const Trace&) = delete;
  Trace& operator=(const Trace&) = delete;

  const std::vector<Value>& values() const { return values_; }
  const std::vector<Step>& steps() const { return steps_; }
  // Step ids in the order backward ran their rules.
  const std::vector<int>& backward_order() const { return backward_order_; }
  // Forgets everything recorded so far (keeps tracing).
  void clear();

  // Hooks called by the tape (not for users).
  void on_record(const Graph* graph, int32_t node_index, const Node& node, std::span<const Tensor> inputs,
                 const Tensor& out);
  void on_backward(const Graph* graph, int32_t node_index, const Node& node, const Tensor& gy,
                   std::span<const Tensor> gx);
  void on_leaf_grad(TensorImpl* leaf);

 private:
  int value_of_input(const Graph* graph, const Tensor& t);
  std::vector<Value> values_;
  std::vector<Step> steps_;
  std::vector<int> backward_order_;
  std::map<std::pair<const Graph*, int32_t>, int> node_steps_;  // (graph, node) -> step
  std::map<const TensorImpl*, int> leaf_values_;                 // leaf or constant -> value
  Trace* prev_ = nullptr;
};

// Names the ops recorded in its scope (nested scopes join with '/'), so graph
// dumps can group a module's nodes, e.g. a Linear layer's affine node and its parameters.
class NameScope {
 public:
  explicit NameScope(std::string name);
  ~NameScope();
  NameScope(const NameScope&) = delete;
  NameScope& operator=(const NameScope&) = delete;
  // The current path on this thread ("" outside any scope).
  static const std::string& current();

 private:
  size_t prev_size_;
};

// ---- Recording -----------------------------------------------------------------

namespace detail {
extern AG_TLS_FAST thread_local Trace* tl_trace;
extern AG_TLS_FAST thread_local bool tl_grad_mode;
extern AG_TLS_FAST thread_local bool tl_anomaly;
Node* record_node(Op op, std::span<const Tensor> inputs, Tensor& out, const Attrs& attrs,
                  std::shared_ptr<Function> function = nullptr);
void check_anomaly_forward(Op op, const Tensor& out);
}  // namespace detail

// Whether ops on this thread are recorded now.
inline bool grad_mode_enabled() { return detail::tl_grad_mode; }
// Whether a Trace is watching this thread's tape (graph dumps, per-node checks).
inline bool trace_active() { return detail::tl_trace != nullptr; }

// Records `out = op(inputs)` when recording is on and an input requires grad;
// returns the new node (to save tensors on) or nullptr.
inline Node* record(Op op, std::span<const Tensor> inputs, Tensor& out, const Attrs& attrs = {}) {
  if (detail::tl_anomaly) detail::check_anomaly_forward(op, out);
  if (!detail::tl_grad_mode) return nullptr;
  for (const Tensor& t : inputs)
    if (t.impl()->requires_grad) return detail::record_node(op, inputs, out, attrs);
  return nullptr;
}

namespace detail {
// Sets a thread's flag for its scope and restores the previous value after.
class ScopedFlag {
 public:
  ScopedFlag(bool& flag, bool value) : flag_(flag), prev_(flag) { flag = value; }
  ~ScopedFlag() { flag_ = prev_; }
  ScopedFlag(const ScopedFlag&) = delete;
  ScopedFlag& operator=(const ScopedFlag&) = delete;

 private:
  bool& flag_;
  bool prev_;
};
}  // namespace detail

// Turns recording off for its scope (evaluation, optimiser steps).
class NoGradGuard : detail::ScopedFlag {
 public:
  NoGradGuard() : ScopedFlag(detail::tl_grad_mode, false) {}
};

// Sets recording on or off for its scope.
class GradModeGuard : detail::ScopedFlag {
 public:
  explicit GradModeGuard(bool on) : ScopedFlag(detail::tl_grad_mode, on) {}
};

// Anomaly mode for its scope: after each op's forward and each backward rule,
// outputs are checked for NaN/Inf and the first bad one is reported with its node.
class AnomalyGuard : detail::ScopedFlag {
 public:
  AnomalyGuard() : ScopedFlag(detail::tl_anomaly, true) {}
};

// ---- Backward ------------------------------------------------------------------

// Backpropagates from `root`: seeds dL/dL (ones for a scalar root; `grad` is
// required otherwise), walks the tape in reverse and accumulates into the
// leaves' .grad(). Without retain_graph the tape is released afterwards.
void backward(const Tensor& root, const Tensor& grad = {}, const BackwardOptions& opts = {});

// The gradients of `outputs` (seeded with grad_outputs, or ones for scalars)
// with respect to `inputs`, returned instead of accumulated into .grad().
// An input that does not affect the outputs is an error unless allow_unused,
// in which case its gradient is an undefined Tensor.
std::vector<Tensor> grad(std::span<const Tensor> outputs, std::span<const Tensor> inputs,
                         std::span<const Tensor> grad_outputs = {}, const BackwardOptions& opts = {},
                         bool allow_unused = false);

// Note [Backward hooks]
// A hook sees a backward() pass (not ag::grad) on its thread as it runs: each
// leaf is reported once, right after the last accumulation into its .grad in
// this pass, so the value is final while the engine goes on with the nodes
// below. The engine finds each leaf's last sender before the walk (the
// lowest-numbered node with an edge to it: the walk goes downwards) and calls
// leaf_ready after running (or skipping) that node; `received` says whether
// the pass delivered a gradient at all (false: the leaf is on the graph but
// no gradient reached it). backward_done follows the walk (ok = false when it
// threw). nn::DataParallel starts its bucketed allreduce from leaf_ready and
// waits for it in backward_done. Without hooks the pass costs nothing extra;
// with one, a map from leaf to last sender is built per pass (O(edges)).
class BackwardHook {
 public:
  virtual ~BackwardHook() = default;
  virtual void leaf_ready(TensorImpl* leaf, bool received) = 0;
  virtual void backward_done(bool ok) { (void)ok; }
};
// Registers a hook for this thread's backward() passes; the caller keeps it alive until removed.
void add_backward_hook(BackwardHook* hook);
void remove_backward_hook(BackwardHook* hook);

// What this thread's tape holds now.
struct TapeStats {
  size_t nodes = 0;        // nodes alive (not yet released)
  size_t saved_bytes = 0;  // bytes of saved tensors they keep
};
TapeStats tape_stats();
// The nodes of this thread's live graph (empty when none), for dumps and checkers.
std::shared_ptr<Graph> current_graph();

}  // namespace ag

#endif  // TAPEGRAD_CXX20
