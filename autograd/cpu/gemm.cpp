// The CPU GEMM: OpenBLAS always, oneDNN when the build found it.
#include "autograd/cpu/gemm.hpp"

#include <cblas.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>

#include <fmt/format.h>
#include <type_traits>

#ifdef AG_HAVE_DNNL
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#endif

#include "autograd/error.hpp"
#include "autograd/parallel.hpp"

extern "C" {
void openblas_set_num_threads(int);
int openblas_get_num_threads(void);
char* openblas_get_corename(void);
void gotoblas_dynamic_init(void) __attribute__((weak));
void gotoblas_dynamic_quit(void) __attribute__((weak));
int blas_thread_shutdown_(void) __attribute__((weak));
}

namespace ag::cpu {

// Note [GEMM backend]: which library runs a float product, on how many threads.
//
// Measured with tests/bench/bench_gemm (row-major sgemm on the suite's shapes,
// all variants alternating in one process) and end to end with
// bench_tapegrad under TAPEGRAD_GEMM=openblas|dnnl; docs/performance.md,
// section "Matrix products: the GEMM backend", has the tables. On this
// project's machines (Sapphire Rapids, 2 cores, Debian 12):
//   - oneDNN 2.6 runs its AVX-512 kernels: 190-250 GFLOP/s on the large
//     products, 130-270 on 256^3 and the mlp_small layers. Debian's OpenBLAS
//     0.3.21 does not recognise the CPU and falls back to SSE3 kernels (30-45
//     GFLOP/s); on its SkylakeX kernels, which it now runs here (Note [OpenBLAS
//     core detection] below), it stays 1-33% behind oneDNN at one thread on
//     every class but the tiny.
//   - Threads: oneDNN at one thread with C split over ag::parallel_for
//     against oneDNN on its own OpenMP threads: Note [Splitting a product].
//   - Tiny products (m n k <= 64^3: the 10-wide output layers) run on one
//     thread: as fast as on two, and the second core stays with the pool.
//   - BLIS ran at about half oneDNN's rate on every class. libxsmm ran the
//     tiny NN and TN products 1.6-1.9x faster alone, but made the mlp_small
//     step twice as slow end to end. Neither is used.
// So float products run on oneDNN when it is built, else on OpenBLAS; double
// products always run on OpenBLAS (oneDNN has no double GEMM; the gradient
// checks and PCA are the double users). TAPEGRAD_GEMM=openblas|dnnl|auto forces
// one (tests, measurements).
//
// Threads: the library that runs a product gets ag::num_threads() threads
// (checked per call: OpenBLAS's count is global, OpenMP's is per calling
// thread, so TAPEGRAD_NUM_THREADS and set_num_threads reach both). oneDNN's
// OpenMP team is also tapegrad's pool (Note [Worker pool] in parallel.cpp);
// OpenBLAS's threads are its own and sleep while oneDNN runs.

// Note [Splitting a product]: with more than one thread, a float product on
// oneDNN whose C has at least kSplitMin rows (or columns, for a wide C) is cut
// into one block of rows (columns) per thread, each multiplied by oneDNN at
// one thread on a member of the pool, where oneDNN would split the product its
// own way over the same team. Measured with bench_gemm at 2 threads, both ways
// alternating, 4 runs: the split was 20-25% faster on mlp_large's dX2 (256 x
// 1024 x 1024, B transposed), 5-10% on its forward products, and tied (within
// noise) on the rest, 1024^2 and the weight gradients included. End to end,
// mlp_large at 2 threads went from 13.0-14.3 to 11.3-11.7 ms with the pool on
// the team and this split (3 alternated rounds). It lost by 2-4x while the
// pool's workers slept on a condition variable between jobs (before the pool
// became the OpenMP team), so it is done only when the pool is that team (not
// without OpenMP, nor under ThreadSanitizer). Double products stay on
// OpenBLAS's own threads: its thread count is global, and cannot be one on
// each member at once.

namespace {

// m n k at or below which a product runs on one thread (64^3).
constexpr int64_t kTinyMnk = int64_t{1} << 18;
// Rows (or columns) of C per thread below which a product is not split.
constexpr int64_t kSplitMin = 16;

// Note [OpenBLAS core detection]: Debian 12's OpenBLAS (0.3.21, built with
// DYNAMIC_ARCH) picks its kernels by the CPU's family and model number when it
// loads. CPUs newer than that release (an Emerald Rapids Xeon, family 6 model
// 207, on our build machines) are not in its table, and it falls back to its
// "Prescott" kernels: SSE3, a fifth of the speed of its AVX-512 ones
// (sgemm 1024² on one core: 28 vs 138 GFLOP/s, measured on such a machine).
// OpenBLAS's own remedy is the environment variable OPENBLAS_CORETYPE, read
// once when the library loads, which is too late to set from a program.
// So when the library is loaded, before any product runs, and only when
//   - OPENBLAS_CORETYPE is not set (a user's choice stands),
//   - OpenBLAS chose one of its pre-AVX kernels, and
//   - the CPU has AVX-512 (F, BW, DQ, VL) or AVX2 with FMA,
// the kernels are chosen again the way OPENBLAS_CORETYPE would have chosen
// them: OpenBLAS's exported gotoblas_dynamic_quit and gotoblas_dynamic_init
// (declared weak: an OpenBLAS built for one core has neither, and nothing
// happens). openblas_core() tells which kernels run; gemm_info() and
// bench_tapegrad print them.

bool pre_avx_core(std::string_view core) {
  for (std::string_view old : {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Katmai", "Coppermine",
                               "Northwood", "Banias", "Opteron", "Barcelona", "Unknown"})
    if (core == old) return true;
  return false;
}

// The OPENBLAS_CORETYPE value for this CPU's vector units, or nullptr.
const char* best_core() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return nullptr;
}

const bool core_checked = [] {
  if (std::getenv("OPENBLAS_CORETYPE") || !gotoblas_dynamic_init || !gotoblas_dynamic_quit) return false;
  const char* want = best_core();
  if (!want || !pre_avx_core(openblas_get_corename())) return false;
  setenv("OPENBLAS_CORETYPE", want, 0);
  gotoblas_dynamic_quit();
  gotoblas_dynamic_init();
  unsetenv("OPENBLAS_CORETYPE");  // this process only: child processes detect for themselves
  return true;
}();

// Note [OpenBLAS's idle threads]: OpenBLAS starts its worker threads when it
// loads, and an idle worker polls for work with sched_yield for 2^28 cycles
// (about 0.1 s) before it sleeps. A program that starts and trains for a
// second (a test, a benchmark, a small model) has a core busy polling for the
// first tenth of it: with float products on oneDNN nothing ever wakes those
// workers, and on this VM the poller slowed the mlp_small step of a 1-thread
// run by a quarter (perf: a third of the samples in sched_yield). So the
// workers are stopped when the library loads, through OpenBLAS's exported
// blas_thread_shutdown_ (weak: an OpenBLAS without threads has none);
// OpenBLAS starts them again by itself at its first product that uses them
// (and at openblas_set_num_threads, so that is called only before a product).
const bool openblas_idle = [] {
  if (blas_thread_shutdown_) blas_thread_shutdown_();
  return true;
}();

struct Gemm {
  bool ta, tb;
  int64_t m, n, k, lda, ldb, ldc;
};

// OpenBLAS keeps one thread count for the whole process.
template <class T>
void openblas_gemm(const Gemm& g, const T* a, const T* b, T beta, T* c, int threads) {
  if (openblas_get_num_threads() != threads) openblas_set_num_threads(threads);
  const auto ta = g.ta ? CblasTrans : CblasNoTrans, tb = g.tb ? CblasTrans : CblasNoTrans;
  const int m = static_cast<int>(g.m), n = static_cast<int>(g.n), k = static_cast<int>(g.k);
  const int lda = static_cast<int>(g.lda), ldb = static_cast<int>(g.ldb), ldc = static_cast<int>(g.ldc);
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
  else
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc);
}

#ifdef AG_HAVE_DNNL
// oneDNN's sgemm is row-major and takes its thread count from the calling
// thread's OpenMP setting, which each thread holds for itself.
void dnnl_gemm(const Gemm& g, const float* a, const float* b, float beta, float* c, int threads) {
  if (omp_get_max_threads() != threads) omp_set_num_threads(threads);
  const dnnl_status_t st =
      dnnl_sgemm(g.ta ? 'T' : 'N', g.tb ? 'T' : 'N', g.m, g.n, g.k, 1.0f, a, g.lda, b, g.ldb, beta, c, g.ldc);
  if (st != dnnl_success) fail("gemm", "oneDNN's sgemm failed (status {}) on m={} n={} k={}", int(st), g.m, g.n, g.k);
}
#endif

// One float product on `backend` with `threads` library threads.
void run_float(GemmBackend backend, const Gemm& g, const float* a, const float* b, float beta, float* c, int threads) {
  switch (backend) {
#ifdef AG_HAVE_DNNL
    case GemmBackend::dnnl: return dnnl_gemm(g, a, b, beta, c, threads);
#endif
    default: return openblas_gemm(g, a, b, beta, c, threads);
  }
}

// The backend auto stands for: oneDNN when built.
GemmBackend resolve(GemmBackend backend) {
  if (backend != GemmBackend::automatic) return backend;
#ifdef AG_HAVE_DNNL
  return GemmBackend::dnnl;
#else
  return GemmBackend::openblas;
#endif
}

// Note [Splitting a product]: C's rows (when m >= n) or columns in blocks, one
// block per thread, each a one-thread product on a member of the pool. A block
// that fails (oneDNN's status) must not throw inside the parallel region: the
// first error is kept and thrown here, after every block has run.
void split_float(GemmBackend backend, const Gemm& g, const float* a, const float* b, float beta, float* c) {
  const bool by_rows = g.m >= g.n;
  std::mutex m;
  std::exception_ptr error;
  parallel_for(by_rows ? g.m : g.n, kSplitMin, [&](int64_t p0, int64_t p1) {
    Gemm part = g;
    const float *pa = a, *pb = b;
    float* pc = c;
    if (by_rows) {
      part.m = p1 - p0;
      pa = g.ta ? a + p0 : a + p0 * g.lda;
      pc = c + p0 * g.ldc;
    } else {
      part.n = p1 - p0;
      pb = g.tb ? b + p0 * g.ldb : b + p0;
      pc = c + p0;
    }
    try {
      run_float(backend, part, pa, pb, beta, pc, 1);
    } catch (...) {
      std::lock_guard lock(m);
      if (!error) error = std::current_exception();
    }
  });
  if (error) std::rethrow_exception(error);
}

void gemm_float(GemmBackend backend, const Gemm& g, const float* a, const float* b, float beta, float* c) {
  const bool tiny = g.m * g.n * g.k <= kTinyMnk;
  backend = resolve(backend);
  // OpenBLAS picks its own thread count per product, up to the one it is given.
  const int threads = tiny && backend != GemmBackend::openblas ? 1 : num_threads();
  if (threads > 1 && backend == GemmBackend::dnnl && detail::pool_is_openmp() &&
      std::max(g.m, g.n) >= 2 * kSplitMin)
    return split_float(backend, g, a, b, beta, c);
  run_float(backend, g, a, b, beta, c, threads);
}

constexpr GemmBackend kBuilt[] = {
    GemmBackend::openblas,
#ifdef AG_HAVE_DNNL
    GemmBackend::dnnl,
#endif
};

GemmBackend env_backend() {
  static const GemmBackend b = gemm_backend_from(std::getenv("TAPEGRAD_GEMM"));
  return b;
}

// A product with m, n or k = 0 is C = beta C, done here: no library call.
template <class T>
bool empty_product(int64_t m, int64_t n, int64_t k, T beta, T* c, int64_t ldc) {
  if (m == 0 || n == 0) return true;
  if (k != 0) return false;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
  return true;
}

void check_built(GemmBackend backend) {
  if (!gemm_backend_built(backend))
    fail("gemm", "the {} backend is not in this build (built: {})", gemm_backend_name(backend), gemm_backends_built());
}

}  // namespace

const char* gemm_backend_name(GemmBackend backend) {
  switch (backend) {
    case GemmBackend::automatic: return "auto";
    case GemmBackend::openblas: return "openblas";
    case GemmBackend::dnnl: return "dnnl";
  }
  return "?";
}

bool gemm_backend_built(GemmBackend backend) {
  return backend == GemmBackend::automatic ||
         std::find(std::begin(kBuilt), std::end(kBuilt), backend) != std::end(kBuilt);
}

std::string gemm_backends_built() {
  std::string s;
  for (GemmBackend b : kBuilt) s += std::string(s.empty() ? "" : ", ") + gemm_backend_name(b);
  return s;
}

GemmBackend gemm_backend_from(const char* value) {
  const std::string v = value ? value : "";
  if (v.empty()) return GemmBackend::automatic;
  for (GemmBackend b : {GemmBackend::automatic, GemmBackend::openblas, GemmBackend::dnnl}) {
    if (v != gemm_backend_name(b)) continue;
    if (gemm_backend_built(b)) return b;
    fail("gemm", "TAPEGRAD_GEMM={}: that backend is not in this build (built: {}, or auto)", v, gemm_backends_built());
  }
  fail("gemm",
       "TAPEGRAD_GEMM={} is not a GEMM backend (built: {}, or auto; "
       "BLIS and libxsmm were measured and are not used)",
       v, gemm_backends_built());
}

void gemm_with(GemmBackend backend, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a,
               int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  check_built(backend);
  if (empty_product(m, n, k, beta, c, ldc)) return;
  gemm_float(backend, Gemm{trans_a, trans_b, m, n, k, lda, ldb, ldc}, a, b, beta, c);
}

void gemm_with(GemmBackend backend, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const double* a,
               int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  check_built(backend);
  if (empty_product(m, n, k, beta, c, ldc)) return;
  openblas_gemm(Gemm{trans_a, trans_b, m, n, k, lda, ldb, ldc}, a, b, beta, c, num_threads());
}

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
          int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm_with(env_backend(), trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc);
}

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda, const double* b,
          int64_t ldb, double beta, double* c, int64_t ldc) {
  gemm_with(env_backend(), trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc);
}

std::string openblas_core() {
  return std::string(openblas_get_corename()) + (core_checked ? " (re-chosen: Note [OpenBLAS core detection])" : "");
}

std::string gemm_info() {
  const GemmBackend b = resolve(env_backend());
  std::string s = fmt::format("float products on {}", gemm_backend_name(b));
#ifdef AG_HAVE_DNNL
  if (b == GemmBackend::dnnl) {
    const dnnl_version_t* v = dnnl_version();
    s += fmt::format(" {}.{}.{}", v->major, v->minor, v->patch);
  }
#endif
  return s + ", double on OpenBLAS " + openblas_core();
}

void gemm_set_num_threads(int n) {
  // OpenBLAS's count is set where it runs a product (openblas_gemm): setting it
  // here would restart its idle workers (Note [OpenBLAS's idle threads]).
  (void)n;
#ifdef AG_HAVE_DNNL
  omp_set_num_threads(n);
#endif
}

}  // namespace ag::cpu
