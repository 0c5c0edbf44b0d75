// Intra-op parallelism: one pool of threads for the loops of large kernels and
// for the GEMM library (the OpenMP team oneDNN multiplies on, where the build
// has OpenMP: Note [Worker pool] in parallel.cpp; Note [GEMM backend] in
// cpu/gemm.cpp).
//
// Small tensors never touch the pool (the per-op cost of a tiny model is the
// point of this engine); a loop is split only when each thread gets at least
// `grain` elements. Kernels call parallel_for; nothing else needs to know.
#pragma once

#include "config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <cstdint>
#include <utility>

namespace ag {

// Threads used by kernels and by the GEMM library (default: the machine's cores, or
// $TAPEGRAD_NUM_THREADS). Must be called from the thread that runs the ops.
void set_num_threads(int n);
int num_threads();

namespace detail {
using RangeFn = void (*)(void* ctx, int64_t begin, int64_t end);
void parallel_for_impl(int64_t n, int64_t grain, void* ctx, RangeFn fn);
// True when the pool is the OpenMP team that oneDNN multiplies on (Note [Worker pool]).
bool pool_is_openmp();
}  // namespace detail

// Calls f(begin, end) on disjoint ranges covering [0, n), in parallel when
// n >= 2 * grain and more than one thread is set; serially inside another
// parallel_for. f must not throw.
template <class F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n < 2 * grain || num_threads() == 1) {
    if (n > 0) f(int64_t{0}, n);
    return;
  }
  detail::parallel_for_impl(n, grain, &f, [](void* ctx, int64_t b, int64_t e) { (*static_cast<F*>(ctx))(b, e); });
}

// Elements per thread below which an elementwise loop stays on one thread.
// Where the pool is the OpenMP team that oneDNN multiplies on (Note [Worker
// pool]), the team is still spinning from the last product during a training
// step and starting a loop on it costs about a microsecond: 16K floats (64
// KB). Measured at 2 threads with tests/bench, mlp_small's step was 5-15%
// faster than with 128K (the optimiser step on its 784 x 100 weights now
// splits), and 4K gained nothing more. Our own pool's workers sleep on a
// condition variable and take tens of microseconds to wake: 128K there.
inline int64_t elementwise_grain() { return detail::pool_is_openmp() ? 16384 : 131072; }

}  // namespace ag

#endif  // TAPEGRAD_CXX20
