// ag::dist on MPI (AG_HAVE_MPI) or, without it, as a world of one process.
#include "autograd/dist/dist.hpp"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <thread>
#include <vector>

#include "autograd/ops.hpp"
#include "autograd/tape.hpp"

#ifdef AG_HAVE_MPI
#define OMPI_SKIP_MPICXX 1  // the C API only
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif
#ifdef AG_HAVE_NCCL
#include "autograd/dist/nccl.hpp"
#endif

namespace ag::dist {

namespace {

struct State {
  bool initialized = false;
  bool mpi = false;     // MPI_Init was called by us
  bool broken = false;  // a collective timed out: exit aborts the job (Note [Failing together])
  int rank = 0, world = 1;
  double timeout = 300;
  bool check = true;
};
State& state() {
  static State s;
  return s;
}

enum class Coll : int64_t { barrier = 1, all_reduce, broadcast, all_gather, reduce_scatter };
[[maybe_unused]] const char* coll_name(Coll c) {
  switch (c) {
    case Coll::barrier: return "barrier";
    case Coll::all_reduce: return "all_reduce";
    case Coll::broadcast: return "broadcast";
    case Coll::all_gather: return "all_gather";
    case Coll::reduce_scatter: return "reduce_scatter";
  }
  return "?";
}
[[maybe_unused]] const char* reduce_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return "sum";
    case ReduceOp::avg: return "avg";
    case ReduceOp::max: return "max";
  }
  return "?";
}

// 16-bit tensors are reduced in float32 (see all_reduce's doc).
[[maybe_unused]] bool reduced_in_float32(DType d) { return is_half(d); }

void check_reduce(const Tensor& t, ReduceOp op, const char* who) {
  if (!t.defined()) fail(who, "got an undefined tensor");
  if (t.dtype() == DType::int64 && op == ReduceOp::avg)
    fail(who, "avg of an int64 tensor is not an integer; reduce with sum, or cast to a floating dtype first");
}

// Divides by the world size in place (avg = sum / w, divided rather than scaled, as a mean is).
[[maybe_unused]] void divide_by_world(Tensor& t) {
  const double w = state().world;
  visit_dtype(t.dtype(), [&](auto z) {
    using T = decltype(z);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      T* p = t.impl()->data<T>();
      for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = static_cast<T>(p[i] / static_cast<T>(w));
    }
  });
}

}  // namespace

bool built_with_mpi() {
#ifdef AG_HAVE_MPI
  return true;
#else
  return false;
#endif
}
bool built_with_nccl() {
#ifdef AG_HAVE_NCCL
  return true;
#else
  return false;
#endif
}
bool is_mpi() { return state().mpi; }
int rank() { return state().rank; }
int world_size() { return state().world; }
double timeout_s() { return state().timeout; }

#ifdef AG_HAVE_MPI

// Note [Failing together]
// MPI has no notion of a failed peer: a rank that dies or stops calling
// collectives leaves the others waiting forever. Three things make a job fail
// as a whole instead of hanging:
// - init() installs a terminate handler: an exception nothing caught (or any
//   std::terminate) prints its message with the rank and calls MPI_Abort,
//   and mpirun then kills every other rank at once;
// - every collective is started non-blocking and waited for with a deadline
//   (InitOptions::timeout_s, TAPEGRAD_DIST_TIMEOUT, default 300 s): past it,
//   the waiting rank throws ag::Error naming the collective and the rank;
// - after such an error the world is marked broken, and the process's exit
//   (atexit) calls MPI_Abort instead of MPI_Finalize, whose barrier would hang.
// A shape or dtype mismatch (InitOptions::check) is seen by every rank in the
// same header exchange, so all of them throw the same error and MPI stays usable.

namespace {

void on_terminate() {
  std::string what = "no exception";
  if (auto e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      what = x.what();
    } catch (...) {
      what = "an exception that is not a std::exception";
    }
  }
  std::fprintf(stderr, "[dist] rank %d of %d: terminating (%s); aborting the job so that the other ranks stop too\n",
               state().rank, state().world, what.c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::abort();
}

void at_exit() {
  int done = 0;
  MPI_Finalized(&done);
  if (done) return;
  if (state().broken) MPI_Abort(MPI_COMM_WORLD, 1);
  MPI_Finalize();
}

// Waits for `req` until the deadline; throws (and marks the world broken) past it.
void wait_for(MPI_Request& req, const char* who) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  for (int spins = 0;; ++spins) {
    int done = 0;
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (done) return;
    const double waited = std::chrono::duration<double>(Clock::now() - start).count();
    if (waited > state().timeout) {
      state().broken = true;
      fail(who,
           "rank {} of {}: the collective did not complete within {} s: another rank has failed, or has not "
           "called it (the timeout is InitOptions::timeout_s or TAPEGRAD_DIST_TIMEOUT; Note [Failing together])",
           state().rank, state().world, state().timeout);
    }
    // On a shared machine (oversubscribed ranks) polling must leave the core to the peers.
    if (spins > 1000) std::this_thread::sleep_for(std::chrono::microseconds(spins > 100000 ? 1000 : 20));
    else std::this_thread::yield();
  }
}

MPI_Datatype mpi_type(DType d) {
  switch (d) {
    case DType::float32: return MPI_FLOAT;
    case DType::float64: return MPI_DOUBLE;
    case DType::int64: return MPI_INT64_T;
    default: return MPI_DATATYPE_NULL;
  }
}
MPI_Op mpi_op(ReduceOp op) { return op == ReduceOp::max ? MPI_MAX : MPI_SUM; }

int count_of(int64_t n, const char* who) {
  if (n > INT32_MAX) fail(who, "{} elements is more than MPI's int count allows; split the tensor", n);
  return static_cast<int>(n);
}

std::string shape_text(const int64_t* h) {
  const int64_t nd = h[3];
  std::string s = "(";
  for (int64_t k = 0; k < nd && k < 6; ++k) s += (k ? ", " : "") + std::to_string(h[6 + k]);
  if (nd > 6) s += ", ...";
  return s + (nd == 1 ? ",)" : ")");
}
const char* device_text(int64_t kind) { return kind == 0 ? "cpu" : kind == 1 ? "cuda" : "cuda_host"; }

// Note [Failing together]: every rank sends (collective, dtype, device, ndim,
// numel, root or reduce op, up to 6 axes (a hash of the rest)); every rank
// compares all of them with rank 0's and throws the same error.
void check_header(Coll c, const Tensor* t, int64_t extra) {
  if (!state().check || state().world == 1) return;
  constexpr int kWords = 12;
  int64_t h[kWords] = {static_cast<int64_t>(c), -1, -1, -1, -1, extra, 0, 0, 0, 0, 0, 0};
  if (t) {
    h[1] = static_cast<int64_t>(t->dtype());
    h[2] = static_cast<int64_t>(t->device().kind);
    h[3] = t->dim();
    h[4] = t->numel();
    const Shape& s = t->shape();
    for (size_t k = 0; k < s.size(); ++k) {
      if (k < 5) h[6 + k] = s[k];
      else h[11] = h[11] * 1000003 + s[k];
    }
  }
  std::vector<int64_t> all(static_cast<size_t>(kWords * state().world));
  MPI_Request req;
  MPI_Iallgather(h, kWords, MPI_INT64_T, all.data(), kWords, MPI_INT64_T, MPI_COMM_WORLD, &req);
  wait_for(req, coll_name(c));
  const int64_t* h0 = all.data();
  for (int r = 1; r < state().world; ++r) {
    const int64_t* hr = all.data() + kWords * r;
    if (std::memcmp(h0, hr, sizeof h) == 0) continue;
    const char* who = coll_name(c);
    if (hr[0] != h0[0])
      fail(who, "rank {} called {} while rank 0 called {}: every rank must call the same collectives in the same order",
           r, coll_name(static_cast<Coll>(hr[0])), coll_name(static_cast<Coll>(h0[0])));
    if (hr[5] != h0[5])
      fail(who, "rank {} passed {} {} while rank 0 passed {}", r, c == Coll::broadcast ? "root" : "op",
           c == Coll::broadcast ? std::to_string(hr[5]) : reduce_name(static_cast<ReduceOp>(hr[5])),
           c == Coll::broadcast ? std::to_string(h0[5]) : reduce_name(static_cast<ReduceOp>(h0[5])));
    fail(who,
         "rank {} passed a {} tensor of shape {} on {}, rank 0 a {} tensor of shape {} on {}: every rank must pass "
         "the same shape, dtype and device",
         r, dtype_name(static_cast<DType>(hr[1])), shape_text(hr), device_text(hr[2]),
         dtype_name(static_cast<DType>(h0[1])), shape_text(h0), device_text(h0[2]));
  }
}

}  // namespace

void init(const InitOptions& opts) {
  State& s = state();
  if (s.initialized) return;
  s.initialized = true;
  s.check = opts.check;
  s.timeout = opts.timeout_s;
  if (s.timeout < 0) {
    const char* env = std::getenv("TAPEGRAD_DIST_TIMEOUT");
    s.timeout = env ? std::atof(env) : 300;
    if (!(s.timeout > 0)) s.timeout = 300;
  }
  // Started by mpirun (Open MPI, MPICH/Hydra, PMIx) or srun? Otherwise stay a world of one
  // without starting MPI at all (a singleton MPI_Init is slow and may want a daemon).
  const bool launched = std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMI_SIZE") ||
                        std::getenv("PMIX_RANK") || std::getenv("SLURM_NTASKS");
  if (!launched) return;
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited) {
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
  MPI_Comm_rank(MPI_COMM_WORLD, &s.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &s.world);
  s.mpi = true;
  std::set_terminate(on_terminate);
  std::atexit(at_exit);
}

void finalize() {
  if (!state().mpi) return;
  at_exit();
}

void abort(int code) {
  if (state().mpi) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

void barrier() {
  if (state().world == 1) return;
  check_header(Coll::barrier, nullptr, 0);
  MPI_Request req;
  MPI_Ibarrier(MPI_COMM_WORLD, &req);
  wait_for(req, "barrier");
}

namespace {

// Runs f on a cpu tensor with t's values (t itself, or a float32 / host copy), then writes back into t.
template <class F>
void through_host(Tensor& t, bool to_float32, bool write_back, F&& f) {
  NoGradGuard off;
  if (t.device().is_cpu() && !to_float32) {
    f(t);
    if (write_back) ++t.impl()->storage->version;
    return;
  }
  Tensor h = t.device().is_cpu() ? t : t.to(Device::cpu());
  if (to_float32) h = cast(h, DType::float32);
  f(h);
  if (!write_back) return;
  if (to_float32) h = cast(h, t.dtype());
  t.copy_(h);
}

}  // namespace

void all_reduce(Tensor& t, ReduceOp op) {
  check_reduce(t, op, "all_reduce");
  if (state().world == 1) return;
  check_header(Coll::all_reduce, &t, static_cast<int64_t>(op));
#ifdef AG_HAVE_NCCL
  if (nccl::handles(t)) return nccl::all_reduce(t, op, state().rank, state().world);
#endif
  through_host(t, reduced_in_float32(t.dtype()), true, [&](Tensor& h) {
    MPI_Request req;
    MPI_Iallreduce(MPI_IN_PLACE, h.impl()->storage->data, count_of(h.numel(), "all_reduce"), mpi_type(h.dtype()),
                   mpi_op(op), MPI_COMM_WORLD, &req);
    wait_for(req, "all_reduce");
    if (op == ReduceOp::avg) divide_by_world(h);
  });
}

void broadcast(Tensor& t, int root) {
  if (!t.defined()) fail("broadcast", "got an undefined tensor");
  if (root < 0 || root >= state().world)
    fail("broadcast", "root {} is not a rank of this world of {}", root, state().world);
  if (state().world == 1) return;
  check_header(Coll::broadcast, &t, root);
#ifdef AG_HAVE_NCCL
  if (nccl::handles(t)) return nccl::broadcast(t, root, state().rank, state().world);
#endif
  through_host(t, false, state().rank != root, [&](Tensor& h) {
    MPI_Request req;
    MPI_Ibcast(h.impl()->storage->data, count_of(h.numel() * static_cast<int64_t>(dtype_size(h.dtype())), "broadcast"),
               MPI_BYTE, root, MPI_COMM_WORLD, &req);
    wait_for(req, "broadcast");
  });
}

Tensor all_gather(const Tensor& t) {
  if (!t.defined()) fail("all_gather", "got an undefined tensor");
  Shape s = t.shape();
  s.insert(s.begin(), state().world);
  NoGradGuard off;
  if (state().world == 1) return t.detach().clone().reshape(s);
  check_header(Coll::all_gather, &t, 0);
#ifdef AG_HAVE_NCCL
  if (nccl::handles(t)) {
    Tensor out = empty(s, t.dtype(), t.device());
    nccl::all_gather(t, out, state().rank, state().world);
    return out;
  }
#endif
  const Tensor h = t.device().is_cpu() ? t : t.to(Device::cpu());
  Tensor out = empty(s, t.dtype());
  const int bytes = count_of(t.numel() * static_cast<int64_t>(dtype_size(t.dtype())), "all_gather");
  MPI_Request req;
  MPI_Iallgather(h.impl()->storage->data, bytes, MPI_BYTE, out.impl()->storage->data, bytes, MPI_BYTE, MPI_COMM_WORLD,
                 &req);
  wait_for(req, "all_gather");
  return out.to(t.device());
}

Tensor reduce_scatter(const Tensor& t, ReduceOp op) {
  check_reduce(t, op, "reduce_scatter");
  if (t.dim() == 0) fail("reduce_scatter", "needs a tensor with at least one axis to split, got a 0-d tensor");
  const int w = state().world, r = state().rank;
  const int64_t n = t.shape()[0], row = n ? t.numel() / n : 0;
  Shape s = t.shape();
  s[0] = n * (r + 1) / w - n * r / w;
  NoGradGuard off;
  if (w == 1) return t.detach().clone();
  check_header(Coll::reduce_scatter, &t, static_cast<int64_t>(op));
#ifdef AG_HAVE_NCCL
  if (nccl::handles(t)) {
    std::vector<int64_t> counts(static_cast<size_t>(w));
    for (int k = 0; k < w; ++k) counts[static_cast<size_t>(k)] = (n * (k + 1) / w - n * k / w) * row;
    Tensor out = empty(s, t.dtype(), t.device());
    nccl::reduce_scatter(t, out, op, counts, r, w);
    return out;
  }
#endif
  const bool f32 = reduced_in_float32(t.dtype());
  Tensor h = t.device().is_cpu() ? t : t.to(Device::cpu());
  if (f32) h = cast(h, DType::float32);
  std::vector<int> counts(static_cast<size_t>(w));
  for (int k = 0; k < w; ++k) counts[static_cast<size_t>(k)] = count_of((n * (k + 1) / w - n * k / w) * row, "reduce_scatter");
  Tensor out = empty(s, h.dtype());
  MPI_Request req;
  MPI_Ireduce_scatter(h.impl()->storage->data, out.impl()->storage->data, counts.data(), mpi_type(h.dtype()),
                      mpi_op(op), MPI_COMM_WORLD, &req);
  wait_for(req, "reduce_scatter");
  if (op == ReduceOp::avg) divide_by_world(out);
  if (f32) out = cast(out, t.dtype());
  return out.to(t.device());
}

struct Work::Impl {
  MPI_Request req = MPI_REQUEST_NULL;
  Tensor t;
  ReduceOp op = ReduceOp::sum;
  bool done = false;
  void finish() {
    done = true;
    if (op == ReduceOp::avg) divide_by_world(t);
    ++t.impl()->storage->version;
  }
};

Work all_reduce_async(Tensor& t, ReduceOp op) {
  check_reduce(t, op, "all_reduce_async");
  if (!t.device().is_cpu() || (t.dtype() != DType::float32 && t.dtype() != DType::float64))
    fail("all_reduce_async", "needs a cpu float32 or float64 tensor, got {} on {}", t.dtype(),
         t.device().is_cpu() ? "cpu" : "a device");
  auto impl = std::make_unique<Work::Impl>();
  impl->t = t;
  impl->op = op;
  if (state().world == 1) {
    impl->done = true;
    return Work(std::move(impl));
  }
  MPI_Iallreduce(MPI_IN_PLACE, t.impl()->storage->data, count_of(t.numel(), "all_reduce_async"), mpi_type(t.dtype()),
                 mpi_op(op), MPI_COMM_WORLD, &impl->req);
  return Work(std::move(impl));
}

bool Work::test() {
  if (!impl_ || impl_->done) return true;
  int done = 0;
  MPI_Test(&impl_->req, &done, MPI_STATUS_IGNORE);
  if (done) impl_->finish();
  return done != 0;
}

void Work::wait() {
  if (!impl_ || impl_->done) return;
  wait_for(impl_->req, "all_reduce");
  impl_->finish();
}

#else  // a world of one process

void init(const InitOptions& opts) {
  State& s = state();
  s.initialized = true;
  s.check = opts.check;
  if (opts.timeout_s > 0) s.timeout = opts.timeout_s;
}
void finalize() {}
void abort(int code) { std::exit(code); }
void barrier() {}
void all_reduce(Tensor& t, ReduceOp op) { check_reduce(t, op, "all_reduce"); }
void broadcast(Tensor& t, int root) {
  if (!t.defined()) fail("broadcast", "got an undefined tensor");
  if (root != 0) fail("broadcast", "root {} is not a rank of this world of 1", root);
}
Tensor all_gather(const Tensor& t) {
  if (!t.defined()) fail("all_gather", "got an undefined tensor");
  Shape s = t.shape();
  s.insert(s.begin(), 1);
  NoGradGuard off;
  return t.detach().clone().reshape(s);
}
Tensor reduce_scatter(const Tensor& t, ReduceOp op) {
  check_reduce(t, op, "reduce_scatter");
  if (t.dim() == 0) fail("reduce_scatter", "needs a tensor with at least one axis to split, got a 0-d tensor");
  NoGradGuard off;
  return t.detach().clone();
}
struct Work::Impl {};
Work all_reduce_async(Tensor& t, ReduceOp op) {
  check_reduce(t, op, "all_reduce_async");
  return Work();
}
bool Work::test() { return true; }
void Work::wait() {}

#endif

Work::Work() = default;
Work::Work(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Work::Work(Work&&) noexcept = default;
Work& Work::operator=(Work&&) noexcept = default;
Work::~Work() {
  if (impl_ && !state().broken) {
    try {
      wait();
    } catch (...) {
    }
  }
}

}  // namespace ag::dist
