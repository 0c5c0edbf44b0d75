// Row-major sgemm, C = op(A) op(B) + beta C, on the shapes of the benchmark
// suite's matmul and MLP workloads, through every GEMM library this build
// found (issue #19; docs/performance.md, section "Matrix products: the GEMM
// backend"). Each library runs two ways: with its own threads (N of them), and
// at one thread with the rows (or, for a skinny m, the columns) of C split
// over tapegrad's pool. All variants of a shape run alternately, round after
// round, so machine noise hits them alike; the figure is the median round.
//
// A library's threads may spin after a call (OpenBLAS's pthreads, libgomp's
// OpenMP team under oneDNN and BLIS) and slow whatever runs next on the same
// cores, so each timed batch starts after a pause (--gap-ms, default 5; after
// 50 ms an OpenMP team has gone to sleep and its first products are slow:
// --gap-ms 50 shows that). The "spin" lines measure that cost directly: a fixed job of
// tapegrad's pool right after each variant's product (a split variant leaves
// no library threads behind).
//
//   build/tests/bench/bench_gemm [--threads N] [--quick] [--only sq1024,mlp_large_fwd2,spin]
//                                [--libs openblas,dnnl] [--gap-ms 5]
#include <cblas.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <thread>
#include <string>
#include <vector>

#ifdef AG_HAVE_DNNL
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#endif
#ifdef AG_HAVE_BLIS
#include AG_BLIS_HEADER
#endif
#ifdef AG_HAVE_XSMM
#include <libxsmm.h>
#endif

#include "autograd/parallel.hpp"
#include "tests/bench/bench_common.hpp"

extern "C" void openblas_set_num_threads(int);

namespace {

using SgemmFn = void (*)(bool ta, bool tb, int m, int n, int k, const float* a, int lda, const float* b, int ldb,
                         float beta, float* c, int ldc);

struct Library {
  std::string name;
  void (*set_threads)(int);
  SgemmFn sgemm;
  int64_t max_mnk = 0;  // > 0: the library only handles m n k up to this (libxsmm falls back to BLAS above it)
};

void openblas_sgemm(bool ta, bool tb, int m, int n, int k, const float* a, int lda, const float* b, int ldb,
                    float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a, lda, b,
              ldb, beta, c, ldc);
}

#ifdef AG_HAVE_DNNL
void dnnl_threads(int n) { omp_set_num_threads(n); }
void dnnl_gemm(bool ta, bool tb, int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta,
               float* c, int ldc) {
  dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}
#endif

#ifdef AG_HAVE_BLIS
void blis_threads(int n) { bli_thread_set_num_threads(n); }
// BLIS takes a row and a column stride per matrix, so row-major needs no swap.
void blis_gemm(bool ta, bool tb, int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta,
               float* c, int ldc) {
  float one = 1.0f;
  bli_sgemm(ta ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, tb ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, m, n, k, &one,
            const_cast<float*>(a), lda, 1, const_cast<float*>(b), ldb, 1, &beta, c, ldc, 1);
}
#endif

#ifdef AG_HAVE_XSMM
void xsmm_threads(int) {}
// libxsmm is column-major: C^T = op(B)^T op(A)^T, so B goes first.
void xsmm_gemm(bool ta, bool tb, int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta,
               float* c, int ldc) {
  const char tra = ta ? 'T' : 'N', trb = tb ? 'T' : 'N';
  const libxsmm_blasint M = n, N = m, K = k, LDA = ldb, LDB = lda, LDC = ldc;
  const float one = 1.0f;
  libxsmm_sgemm(&trb, &tra, &M, &N, &K, &one, b, &LDA, a, &LDB, &beta, c, &LDC);
}
#endif

std::vector<Library> libraries() {
  std::vector<Library> libs{{"openblas", openblas_set_num_threads, openblas_sgemm}};
#ifdef AG_HAVE_DNNL
  libs.push_back({"dnnl", dnnl_threads, dnnl_gemm});
#endif
#ifdef AG_HAVE_BLIS
  libs.push_back({"blis", blis_threads, blis_gemm});
#endif
#ifdef AG_HAVE_XSMM
  libs.push_back({"xsmm", xsmm_threads, xsmm_gemm, int64_t{LIBXSMM_MAX_MNK}});
#endif
  return libs;
}

void set_all_threads(const std::vector<Library>& libs, int n) {
  for (const Library& l : libs) l.set_threads(n);
}

struct Shape {
  std::string name;
  int m, n, k;
  bool ta, tb;
  float beta;
};

// The suite's products. Affine's forward adds into the bias rows (beta 1);
// backward computes dW = X^T dY (A transposed) and dX = dY W^T (B transposed).
std::vector<Shape> shapes() {
  std::vector<Shape> s{{"sq256", 256, 256, 256, false, false, 0}, {"sq1024", 1024, 1024, 1024, false, false, 0}};
  struct Net {
    std::string name;
    int batch;
    std::vector<int> sizes;
  };
  for (const Net& net : {Net{"mlp_small", 100, {784, 100, 10}}, Net{"mlp_large", 256, {784, 1024, 1024, 10}},
                         Net{"mnist", 100, {784, 50, 10}}}) {
    for (size_t l = 0; l + 1 < net.sizes.size(); ++l) {
      const int in = net.sizes[l], out = net.sizes[l + 1], id = static_cast<int>(l + 1);
      s.push_back({net.name + "_fwd" + std::to_string(id), net.batch, out, in, false, false, 1});
      s.push_back({net.name + "_dW" + std::to_string(id), in, out, net.batch, true, false, 0});
      if (l > 0) s.push_back({net.name + "_dX" + std::to_string(id), net.batch, in, out, false, true, 0});
    }
  }
  return s;
}

// One way to run a product: a library with its own threads, or at one thread split over the pool.
struct Variant {
  const Library* lib;
  bool split;
  std::string name() const { return lib->name + (split ? "+split" : ""); }
};

void run_variant(const Variant& v, const Shape& s, const float* a, const float* b, float* c, int threads) {
  const int lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n, ldc = s.n;
  if (!v.split) return v.lib->sgemm(s.ta, s.tb, s.m, s.n, s.k, a, lda, b, ldb, s.beta, c, ldc);
  const bool by_rows = s.m >= s.n;
  const int64_t len = by_rows ? s.m : s.n;
  ag::parallel_for(len, std::max<int64_t>(1, len / (2 * threads)), [&](int64_t i0, int64_t i1) {
#ifdef AG_HAVE_DNNL
    omp_set_num_threads(1);  // a thread's own setting: the pool's workers need it too
#endif
    const int r = static_cast<int>(i1 - i0);
    if (by_rows) {
      const float* ai = s.ta ? a + i0 : a + i0 * lda;
      v.lib->sgemm(s.ta, s.tb, r, s.n, s.k, ai, lda, b, ldb, s.beta, c + i0 * ldc, ldc);
    } else {
      const float* bj = s.tb ? b + i0 * ldb : b + i0;
      v.lib->sgemm(s.ta, s.tb, s.m, r, s.k, a, lda, bj, ldb, s.beta, c + i0, ldc);
    }
  });
}

constexpr double kGapSeconds = 0.005;

void pause(double seconds) { std::this_thread::sleep_for(std::chrono::duration<double>(seconds)); }

// Microseconds of a pool job (an elementwise loop over 2 x 128K floats, split
// over every thread) run right after `before`: the median over `rounds`.
template <class F>
double pool_job_after(F&& before, int rounds) {
  std::vector<float> x(1 << 18, 1.0f);
  std::vector<double> t;
  for (int r = 0; r < rounds; ++r) {
    before();
    const double t0 = bench::now();
    ag::parallel_for(static_cast<int64_t>(x.size()), 1 << 14, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) x[i] = x[i] * 0.999f + 0.001f;
    });
    t.push_back((bench::now() - t0) * 1e6);
    pause(0.01);
  }
  return bench::median(t);
}

}  // namespace

int main(int argc, char** argv) try {
  // --libs a,b: only these libraries; --gap-ms: the pause before each batch
  // (the rest of the command line is bench_common's)
  std::string only_libs;
  double gap_seconds = kGapSeconds;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--libs" && i + 1 < argc)
      only_libs.append(",").append(argv[++i]).append(",");
    else if (std::string(argv[i]) == "--gap-ms" && i + 1 < argc)
      gap_seconds = std::stod(argv[++i]) / 1000;
    else
      rest.push_back(argv[i]);
  }
  const bench::Args args = bench::parse(static_cast<int>(rest.size()), rest.data(), "bench_gemm");
  const int threads = args.threads;
  ag::set_num_threads(threads);
  std::vector<Library> libs;
  for (const Library& l : libraries())
    if (only_libs.empty() || only_libs.find("," + l.name + ",") != std::string::npos) libs.push_back(l);
  std::vector<Variant> variants;
  for (const Library& l : libs) {
    if (!l.max_mnk) variants.push_back({&l, false});
    if (threads > 1 || l.max_mnk) variants.push_back({&l, true});
  }
  const int rounds = args.quick ? 5 : 15;
  std::printf("# bench_gemm: %d threads, %d rounds, libraries:", threads, rounds);
  for (const Library& l : libs) std::printf(" %s", l.name.c_str());
  std::printf("\n");

  std::map<std::string, std::pair<std::string, double>> best;
  std::vector<std::string> order;
  for (const Shape& s : shapes()) {
    if (!args.wants(s.name)) continue;
    const size_t na = size_t(s.m) * s.k, nb = size_t(s.k) * s.n, nc = size_t(s.m) * s.n;
    std::vector<float> a(na), b(nb), c0(nc), ref(nc), c(nc);
    for (size_t i = 0; i < na; ++i) a[i] = std::sin(0.37f * float(i));
    for (size_t i = 0; i < nb; ++i) b[i] = std::cos(0.11f * float(i));
    for (size_t i = 0; i < nc; ++i) c0[i] = 0.01f * float(i % 17);
    const double flops = 2.0 * s.m * s.n * s.k;
    // calls per timed batch: about 2 ms of work at 50 GFLOP/s, at least one
    const int calls = std::max(1, static_cast<int>(2e-3 * 50e9 / flops));

    std::vector<Variant> active;
    for (const Variant& v : variants) {
      const int64_t part = v.split ? (int64_t(s.m) * s.n * s.k) / threads : int64_t(s.m) * s.n * s.k;
      if (v.lib->max_mnk && part > v.lib->max_mnk) continue;
      active.push_back(v);
    }
    // each variant against OpenBLAS once: a wrong stride or operand order shows here, not as a fast number
    openblas_set_num_threads(1);  // the reference leaves no OpenBLAS threads spinning
    ref = c0;
    openblas_sgemm(s.ta, s.tb, s.m, s.n, s.k, a.data(), s.ta ? s.m : s.k, b.data(), s.tb ? s.k : s.n, s.beta,
                   ref.data(), s.n);
    for (const Variant& v : active) {
      v.lib->set_threads(v.split ? 1 : threads);
      c = c0;
      run_variant(v, s, a.data(), b.data(), c.data(), threads);
      double worst = 0, scale = 1e-30;
      for (size_t i = 0; i < nc; ++i) {
        worst = std::max(worst, double(std::fabs(c[i] - ref[i])));
        scale = std::max(scale, double(std::fabs(ref[i])));
      }
      if (worst > 1e-3 * scale) {
        std::fprintf(stderr, "bench_gemm: %s on %s differs from OpenBLAS by %g (largest |C| %g)\n", v.name().c_str(),
                     s.name.c_str(), worst, scale);
        return 1;
      }
    }

    std::vector<std::vector<double>> times(active.size());
    for (int r = 0; r < rounds + 1; ++r) {
      for (size_t i = 0; i < active.size(); ++i) {
        const Variant& v = active[i];
        set_all_threads(libs, 1);
        v.lib->set_threads(v.split ? 1 : threads);
        pause(gap_seconds);
        run_variant(v, s, a.data(), b.data(), c.data(), threads);  // warm: caches, thread teams
        const double t0 = bench::now();
        for (int j = 0; j < calls; ++j) run_variant(v, s, a.data(), b.data(), c.data(), threads);
        const double t = (bench::now() - t0) / calls;
        if (r > 0) times[i].push_back(t);
      }
    }
    order.push_back(s.name);
    for (size_t i = 0; i < active.size(); ++i) {
      const double gflops = flops / bench::median(times[i]) / 1e9;
      bench::result("gemm", active[i].name() + "/" + s.name, gflops, "GFLOP/s");
      auto& [who, rate] = best[s.name];
      if (gflops > rate) {
        who = active[i].name();
        rate = gflops;
      }
    }
  }
  // Idle library threads that spin take cores from the pool's next job: the
  // same job right after each variant's product (a split variant leaves no
  // library threads behind, so it is the baseline).
  if (threads > 1 && args.wants("spin")) {
    const Shape s{"sq256", 256, 256, 256, false, false, 0};
    std::vector<float> a(256 * 256, 1.0f), b(256 * 256, 1.0f), c(256 * 256);
    for (const Variant& v : variants) {
      if (v.lib->max_mnk) continue;
      set_all_threads(libs, 1);
      v.lib->set_threads(v.split ? 1 : threads);
      const double us = pool_job_after([&] { run_variant(v, s, a.data(), b.data(), c.data(), threads); },
                                       args.quick ? 11 : 41);
      bench::result("gemm", v.name() + "/spin_pool_job_after_sq256", us, "us");
    }
  }
  std::printf("# best per shape at %d threads (m n k, transposes):\n", threads);
  for (const Shape& s : shapes()) {
    if (!best.count(s.name)) continue;
    std::printf("#   %-16s %5d %5d %5d %c%c  %-14s %7.1f GFLOP/s\n", s.name.c_str(), s.m, s.n, s.k, s.ta ? 'T' : 'N',
                s.tb ? 'T' : 'N', best[s.name].first.c_str(), best[s.name].second);
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 2;
}
