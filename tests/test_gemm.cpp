// The CPU GEMM (autograd/cpu/gemm.hpp): every built backend, alone and through
// the automatic rule, against a plain triple loop, and TAPEGRAD_GEMM's errors.
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "autograd/cpu/gemm.hpp"
#include "autograd/parallel.hpp"
#include "helpers.hpp"

using ag::cpu::GemmBackend;

namespace {

const std::vector<GemmBackend> kAll = {GemmBackend::automatic, GemmBackend::openblas, GemmBackend::dnnl};

std::vector<GemmBackend> built() {
  std::vector<GemmBackend> v;
  for (GemmBackend b : kAll)
    if (ag::cpu::gemm_backend_built(b)) v.push_back(b);
  return v;
}

// C = op(A) op(B) + beta C with A, B, C stored row-major with row strides lda, ldb, ldc.
template <class T>
void naive(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const std::vector<T>& a, int64_t lda,
           const std::vector<T>& b, int64_t ldb, T beta, std::vector<T>& c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < k; ++p)
        s += double(ta ? a[p * lda + i] : a[i * lda + p]) * double(tb ? b[j * ldb + p] : b[p * ldb + j]);
      c[i * ldc + j] = static_cast<T>(s + (beta == T(0) ? 0.0 : double(beta) * double(c[i * ldc + j])));
    }
}

struct Case {
  int64_t m, n, k;
};

// Every built backend, both transposes, beta 0 and 1, with padded rows (ld > columns).
template <class T>
void check_all(const Case& cs, double tol) {
  const int64_t pad = 3;
  for (GemmBackend backend : built())
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (T beta : {T(0), T(1)}) {
          const auto [m, n, k] = cs;
          const int64_t ra = ta ? k : m, ca = ta ? m : k, rb = tb ? n : k, cb = tb ? k : n;
          const int64_t lda = ca + pad, ldb = cb + pad, ldc = n + pad;
          std::vector<T> a(size_t(std::max<int64_t>(1, ra * lda))), b(size_t(std::max<int64_t>(1, rb * ldb)));
          std::vector<T> c(size_t(std::max<int64_t>(1, m * ldc)));
          for (size_t i = 0; i < a.size(); ++i) a[i] = T(std::sin(0.7 * double(i) + 0.3));
          for (size_t i = 0; i < b.size(); ++i) b[i] = T(std::cos(0.45 * double(i)));
          // NaN in C with beta 0 must not leak into the result: beta 0 means C is not read.
          for (size_t i = 0; i < c.size(); ++i) c[i] = beta == T(0) ? T(NAN) : T(0.25 * double(i % 7));
          std::vector<T> want = c;
          naive<T>(ta, tb, m, n, k, a, lda, b, ldb, beta, want, ldc);
          ag::cpu::gemm_with(backend, ta, tb, m, n, k, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
          INFO("backend " << ag::cpu::gemm_backend_name(backend) << ", m n k " << m << " " << n << " " << k
                          << ", transposes " << ta << tb << ", beta " << double(beta));
          double worst = 0;
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) {
              const double got = double(c[i * ldc + j]), ref = double(want[i * ldc + j]);
              worst = std::max(worst, std::isnan(got) ? INFINITY : std::fabs(got - ref) / (1 + std::fabs(ref)));
            }
          CHECK(worst <= tol);
          // the padding between rows of C stays as it was
          for (int64_t i = 0; i < m; ++i)
            for (int64_t j = n; j < ldc && i * ldc + j < int64_t(c.size()); ++j) {
              const T pad_value = c[i * ldc + j], was = want[i * ldc + j];
              CHECK(((std::isnan(double(pad_value)) && std::isnan(double(was))) || pad_value == was));
            }
        }
}

const std::vector<Case> kCases = {{1, 1, 1}, {3, 5, 7}, {257, 129, 65}, {0, 4, 3}, {4, 0, 3}, {4, 3, 0},
                                  {100, 10, 100}, {10, 300, 40}, {300, 250, 1200}};

}  // namespace

TEST_SUITE("gemm") {

TEST_CASE("gemm: every built backend matches a triple loop, float") {
  for (const Case& c : kCases) check_all<float>(c, 1e-4);
}

TEST_CASE("gemm: every built backend matches a triple loop, double") {
  for (const Case& c : kCases) check_all<double>(c, 1e-12);
}

// At several threads a product may be split into blocks of C's rows or columns
// (Note [Splitting a product]): uneven blocks, both ways, every transpose.
TEST_CASE("gemm: the same results on one thread and on several") {
  const int saved = ag::num_threads();
  for (int threads : {1, 2, 3}) {
    ag::set_num_threads(threads);
    check_all<float>({300, 250, 1200}, 1e-4);
    check_all<float>({40, 700, 600}, 1e-4);
    check_all<float>({257, 129, 65}, 1e-4);
    check_all<float>({33, 500, 70}, 1e-4);
  }
  ag::set_num_threads(saved);
}

// oneDNN rejects a row stride shorter than a row; the error reaches the caller
// as an ag::Error, also from the blocks of a split product (Note [Splitting a
// product]: no exception may leave the parallel region).
TEST_CASE("gemm: a oneDNN error reaches the caller, from a split product too") {
  if (!ag::cpu::gemm_backend_built(GemmBackend::dnnl)) return;
  const int saved = ag::num_threads();
  std::vector<float> a(300 * 1200, 1.0f), b(1200 * 250, 1.0f), c(300 * 250, 0.0f);
  for (int threads : {1, 2, 3}) {
    ag::set_num_threads(threads);
    INFO(threads << " threads");
    const std::string e = error_of([&] {
      ag::cpu::gemm_with(GemmBackend::dnnl, false, false, 300, 250, 1200, a.data(), 5, b.data(), 250, 0.0f, c.data(),
                         250);
    });
    CHECK(e.find("[gemm] oneDNN's sgemm failed") == 0);
  }
  ag::set_num_threads(saved);
}

TEST_CASE("gemm: TAPEGRAD_GEMM names a built backend or auto") {
  CHECK(ag::cpu::gemm_backend_from(nullptr) == GemmBackend::automatic);
  CHECK(ag::cpu::gemm_backend_from("") == GemmBackend::automatic);
  CHECK(ag::cpu::gemm_backend_from("auto") == GemmBackend::automatic);
  CHECK(ag::cpu::gemm_backend_from("openblas") == GemmBackend::openblas);
  const std::string names = ag::cpu::gemm_backends_built();
  CHECK(names.find("openblas") == 0);
  for (const char* unknown : {"mkl", "blis", "xsmm", "OpenBLAS"})
    CHECK(error_of([&] { ag::cpu::gemm_backend_from(unknown); }) ==
          "[gemm] TAPEGRAD_GEMM=" + std::string(unknown) + " is not a GEMM backend (built: " + names +
              ", or auto; BLIS and libxsmm were measured and are not used)");
  for (GemmBackend b : kAll) {
    const std::string name = ag::cpu::gemm_backend_name(b);
    if (ag::cpu::gemm_backend_built(b)) {
      CHECK(ag::cpu::gemm_backend_from(name.c_str()) == b);
    } else {
      CHECK(error_of([&] { ag::cpu::gemm_backend_from(name.c_str()); }) ==
            "[gemm] TAPEGRAD_GEMM=" + name + ": that backend is not in this build (built: " + names + ", or auto)");
      float x = 1, y = 0;
      CHECK(error_of([&] { ag::cpu::gemm_with(b, false, false, 1, 1, 1, &x, 1, &x, 1, 0.0f, &y, 1); }) ==
            "[gemm] the " + name + " backend is not in this build (built: " + names + ")");
    }
  }
}

}  // TEST_SUITE

TEST_CASE("OpenBLAS runs vector kernels for this CPU (Note [OpenBLAS core detection])") {
  const std::string core = " " + ag::cpu::openblas_core();
  INFO(core);
  CHECK(ag::cpu::gemm_info().find("double on OpenBLAS" + core) != std::string::npos);
#if defined(__x86_64__)
  // Where the CPU has AVX2 and FMA and nobody forced a core, the SSE-era fallback must not be running.
  if (!std::getenv("OPENBLAS_CORETYPE") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    for (const char* old : {"Prescott", "Core2", "Penryn", "Nehalem", "Atom"})
      CHECK(core.find(std::string(" ") + old) == std::string::npos);
#endif
  // and its products stay right after the kernels were chosen again
  ag::Generator gen(5);
  ag::Tensor a = ag::randn({67, 129}, gen), b = ag::randn({129, 33}, gen);
  ag::Tensor ref = ag::matmul(ag::cast(a, ag::DType::float64), ag::cast(b, ag::DType::float64));
  check_values(ag::cast(ag::matmul(a, b), ag::DType::float64), ref.to_vector<double>(), 1e-4);
}
