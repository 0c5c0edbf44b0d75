// CUDA kernel of MatMul: cublasGemmEx for one matrix, cublasGemmStridedBatchedEx
// for a batch. Row-major C = op(A) op(B) is computed as the column-major
// C^T = op(B)^T op(A)^T, so the operands swap and no copy is made. The cuda_host
// emulation stands in CBLAS (OpenBLAS) for cuBLAS, with the same arguments.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "cuda/common.cuh"

#if defined(AG_CUDA_HOST)
#include <cblas.h>
#else
#include <cublas_v2.h>

#include "cuda/cuda.hpp"
#endif

namespace ag::AG_KNS {

namespace {

struct Gemm {
  int m, n, k, lda, ldb;
  int64_t batch;
  bool ta, tb;
  double beta = 0;  // C = op(A) op(B) + beta C
};

#if defined(AG_CUDA_HOST)
void gemm(const Gemm& g, const float* a, const float* b, float* c) {
  for (int64_t i = 0; i < g.batch; ++i)
    cblas_sgemm(CblasRowMajor, g.ta ? CblasTrans : CblasNoTrans, g.tb ? CblasTrans : CblasNoTrans, g.m, g.n, g.k, 1.0f,
                a + i * g.m * g.k, g.lda, b + i * g.k * g.n, g.ldb, static_cast<float>(g.beta), c + i * g.m * g.n, g.n);
}
void gemm(const Gemm& g, const double* a, const double* b, double* c) {
  for (int64_t i = 0; i < g.batch; ++i)
    cblas_dgemm(CblasRowMajor, g.ta ? CblasTrans : CblasNoTrans, g.tb ? CblasTrans : CblasNoTrans, g.m, g.n, g.k, 1.0,
                a + i * g.m * g.k, g.lda, b + i * g.k * g.n, g.ldb, g.beta, c + i * g.m * g.n, g.n);
}
template <class T> void run(const Gemm& g, const T* a, const T* b, T* c, const char*) {
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
    gemm(g, a, b, c);
  } else {
    // 16-bit storage: widened to float, multiplied with float accumulation, rounded once
    // (what cublasGemmEx does with CUBLAS_COMPUTE_32F).
    auto widen = [](const T* p, int64_t n) {
      std::vector<float> v(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<float>(p[i]);
      return v;
    };
    const int64_t na = g.batch * g.m * g.k, nb = g.batch * g.k * g.n, nc = g.batch * g.m * g.n;
    const std::vector<float> fa = widen(a, na), fb = widen(b, nb);
    std::vector<float> fc = g.beta != 0 ? widen(c, nc) : std::vector<float>(static_cast<size_t>(nc));
    gemm(g, fa.data(), fb.data(), fc.data());
    for (int64_t i = 0; i < nc; ++i) c[i] = static_cast<T>(fc[static_cast<size_t>(i)]);
  }
}
#else
const char* status_text(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "cuBLAS error";
  }
}

// cuBLAS's names for T, and the type of alpha and beta: float64 computes in
// float64; float32, float16 and bfloat16 in float32 (Note [16-bit storage,
// float32 arithmetic] in autograd/half.hpp).
template <class T> constexpr cudaDataType data_type() {
  if constexpr (std::is_same_v<T, double>) return CUDA_R_64F;
  else if constexpr (std::is_same_v<T, Half>) return CUDA_R_16F;
  else if constexpr (std::is_same_v<T, BFloat16>) return CUDA_R_16BF;
  else return CUDA_R_32F;
}

template <class T> void run(const Gemm& g, const T* a, const T* b, T* c, const char* name) {
  using S = std::conditional_t<std::is_same_v<T, double>, double, float>;
  const cudaDataType type = data_type<T>();
  // float32 may run on TF32 tensor cores when the user allows it (cuda::set_allow_tf32)
  const cublasComputeType_t compute = std::is_same_v<T, double>  ? CUBLAS_COMPUTE_64F
                                      : std::is_same_v<T, float> && cuda::allow_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                                                       : CUBLAS_COMPUTE_32F;
  const S one = 1, zero = static_cast<S>(g.beta);
  auto handle = static_cast<cublasHandle_t>(cuda::rt::blas_handle(name));
  const cublasOperation_t opb = g.tb ? CUBLAS_OP_T : CUBLAS_OP_N, opa = g.ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  // Looked up once: cuBLAS is opened on first use (Note [cuBLAS loaded on first use], device.cu).
  using GemmEx = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                                    const void*, cudaDataType, int, const void*, cudaDataType, int, const void*, void*,
                                    cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);
  using GemmBatchedEx = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                           const void*, const void*, cudaDataType, int, long long, const void*,
                                           cudaDataType, int, long long, const void*, void*, cudaDataType, int,
                                           long long, int, cublasComputeType_t, cublasGemmAlgo_t);
  static const auto gemm_ex = reinterpret_cast<GemmEx>(cuda::rt::blas_symbol("cublasGemmEx", name));
  static const auto gemm_batched =
      reinterpret_cast<GemmBatchedEx>(cuda::rt::blas_symbol("cublasGemmStridedBatchedEx", name));
  cublasStatus_t s;
  if (g.batch == 1) {
    s = gemm_ex(handle, opb, opa, g.n, g.m, g.k, &one, b, type, g.ldb, a, type, g.lda, &zero, c, type, g.n, compute,
                CUBLAS_GEMM_DEFAULT);
  } else {
    s = gemm_batched(handle, opb, opa, g.n, g.m, g.k, &one, b, type, g.ldb, int64_t{g.k} * g.n, a, type, g.lda,
                     int64_t{g.m} * g.k, &zero, c, type, g.n, int64_t{g.m} * g.n, static_cast<int>(g.batch), compute,
                     CUBLAS_GEMM_DEFAULT);
  }
  if (s != CUBLAS_STATUS_SUCCESS) cuda::rt::throw_error(name, "cublasGemmEx", status_text(s));
}
#endif

// Row r of an (n, o) output starts as the bias: element k reads b[k % o].
struct BiasIndex {
  int64_t o;
  AG_HD int64_t operator()(int64_t k) const { return k % o; }
};

// y = x W + b: every row starts as b (a gather), then one GEMM adds x W (beta = 1).
void affine(const View* in, const View& out, const char* name) {
  Gemm g{};
  g.m = static_cast<int>(out.shape[0]);
  g.n = static_cast<int>(out.shape[1]);
  g.k = static_cast<int>(in[0].shape[1]);
  g.lda = g.k;
  g.ldb = g.n;
  g.batch = 1;
  g.beta = 1;
  for_float(out.dtype, [&](auto z) {
    using T = decltype(z);
    auto rows = thrust::make_transform_iterator(Index(0), BiasIndex{g.n > 0 ? int64_t{g.n} : 1});
    thrust::gather(AG_POLICY, rows, rows + out.numel, in[2].ptr<T>(), out.ptr<T>());
    if (g.m > 0 && g.n > 0 && g.k > 0) run<T>(g, in[0].ptr<T>(), in[1].ptr<T>(), out.ptr<T>(), name);
  });
}

}  // namespace

void matmul(KOp op, const View* in, int, const View& out, const KAttrs& a, const char* name) {
  if (op == KOp::affine) return affine(in, out, name);
  const View& va = in[0];
  const View& vb = in[1];
  const int nd = out.ndim;
  Gemm g{};
  g.m = static_cast<int>(out.shape[nd - 2]);
  g.n = static_cast<int>(out.shape[nd - 1]);
  g.k = static_cast<int>(a.transpose_a ? va.shape[nd - 2] : va.shape[nd - 1]);
  g.lda = static_cast<int>(va.shape[nd - 1]);
  g.ldb = static_cast<int>(vb.shape[nd - 1]);
  g.batch = out.numel / std::max<int64_t>(1, int64_t{g.m} * g.n);
  g.ta = a.transpose_a;
  g.tb = a.transpose_b;
  if (g.m == 0 || g.n == 0 || g.batch == 0) return;
  for_float(out.dtype, [&](auto z) {
    using T = decltype(z);
    if (g.k == 0) thrust::fill(AG_POLICY, out.ptr<T>(), out.ptr<T>() + out.numel, T(0.0f));
    else run<T>(g, va.ptr<T>(), vb.ptr<T>(), out.ptr<T>(), name);
  });
}

}  // namespace ag::AG_KNS
