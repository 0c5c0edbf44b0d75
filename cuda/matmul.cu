// CUDA kernel of MatMul and Affine: cublasGemmEx for one matrix,
// cublasGemmStridedBatchedEx for a batch.
//
// Note [One GEMM description, two executors]
// Each product is described once, as the exact arguments of its cuBLAS call
// (gemm_args in cuda/gemm.hpp: column-major operands swapped so that row-major
// C = op(A) op(B) is computed as C^T = op(B)^T op(A)^T with no copy, the
// transpose flags, leading dimensions, batch strides, data and compute types,
// alpha and beta). Only the last step differs between the two builds (Note
// [Kernels written once, compiled twice] in kernels.hpp): the CUDA build hands
// the arguments to cuBLAS; the cuda_host build hands the same arguments to
// gemm_emulated below, which validates them as cuBLAS does and computes what
// cuBLAS computes (column-major, per batch entry, through column-major CBLAS).
// A wrong leading dimension, stride or flag therefore fails the cuda_host test
// suite, where there is no GPU, as it would fail on one.
#include <algorithm>
#include <climits>
#include <cstring>
#include <type_traits>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/cuda.hpp"
#include "cuda/gemm.hpp"

#if defined(AG_CUDA_HOST)
#include <cblas.h>

#include "cuda/runtime.hpp"
#else
#include <cublas_v2.h>
#endif

namespace ag::AG_KNS {

namespace {

using kernels::GemmArgs;
using kernels::GemmCompute;
using kernels::GemmOp;

#if defined(AG_CUDA_HOST)
// x with its mantissa rounded to TF32's 10 bits (to nearest, ties to even), as
// CUBLAS_COMPUTE_32F_FAST_TF32 rounds its inputs; infinities and NaN stay.
float to_tf32(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if ((u & 0x7f800000u) == 0x7f800000u) return x;
  u += 0xfffu + ((u >> 13) & 1u);
  u &= ~0x1fffu;
  std::memcpy(&x, &u, sizeof u);
  return x;
}

// The elements of a buffer of n as float (16-bit storage widened, float32
// rounded to TF32 when asked).
template <class T> std::vector<float> widen(const void* p, int64_t n, bool tf32) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float f = static_cast<float>(static_cast<const T*>(p)[i]);
    v[static_cast<size_t>(i)] = tf32 ? to_tf32(f) : f;
  }
  return v;
}

CBLAS_TRANSPOSE blas_op(GemmOp op) { return op == GemmOp::n ? CblasNoTrans : CblasTrans; }

// Column-major C = alpha op(A) op(B) + beta C per batch entry, with cuBLAS's argument layout.
void gemm_entries(const GemmArgs& g, const float* a, const float* b, float* c) {
  for (int64_t i = 0; i < g.batch; ++i)
    cblas_sgemm(CblasColMajor, blas_op(g.transa), blas_op(g.transb), g.m, g.n, g.k, static_cast<float>(g.alpha),
                a + i * g.stride_a, g.lda, b + i * g.stride_b, g.ldb, static_cast<float>(g.beta), c + i * g.stride_c,
                g.ldc);
}
void gemm_entries(const GemmArgs& g, const double* a, const double* b, double* c) {
  for (int64_t i = 0; i < g.batch; ++i)
    cblas_dgemm(CblasColMajor, blas_op(g.transa), blas_op(g.transb), g.m, g.n, g.k, g.alpha, a + i * g.stride_a,
                g.lda, b + i * g.stride_b, g.ldb, g.beta, c + i * g.stride_c, g.ldc);
}

// cublasGemmEx / cublasGemmStridedBatchedEx on the host: cuBLAS's checks
// (gemm_invalid), then the emulation's own (gemm_outside), then its
// arithmetic: CUBLAS_COMPUTE_64F in double; CUBLAS_COMPUTE_32F in float, 16-bit
// operands widened and C rounded once at the end; _FAST_TF32 with the float32
// inputs rounded to TF32 first. Only the m x n entries of C are written.
void gemm_emulated(const GemmArgs& g, const char* name) {
  if (const char* bad = kernels::gemm_invalid(g)) cuda::rt::throw_error(name, "cublasGemmEx (cuda_host)", bad);
  if (const char* bad = kernels::gemm_outside(g)) cuda::rt::throw_error(name, "cublasGemmEx (cuda_host)", bad);
  if (g.m == 0 || g.n == 0 || g.batch == 0) return;
  if (g.type == kernels::KType::float64) {
    return gemm_entries(g, static_cast<const double*>(g.a), static_cast<const double*>(g.b), static_cast<double*>(g.c));
  }
  if (g.type == kernels::KType::float32 && g.compute == GemmCompute::f32) {
    return gemm_entries(g, static_cast<const float*>(g.a), static_cast<const float*>(g.b), static_cast<float*>(g.c));
  }
  for_float(g.type, [&](auto z) {
    using T = decltype(z);
    if constexpr (!std::is_same_v<T, double>) {
      const bool tf32 = g.compute == GemmCompute::f32_fast_tf32;
      const std::vector<float> fa = widen<T>(g.a, g.a_numel, tf32), fb = widen<T>(g.b, g.b_numel, tf32);
      std::vector<float> fc =
          g.beta != 0 ? widen<T>(g.c, g.c_numel, false) : std::vector<float>(static_cast<size_t>(g.c_numel));
      gemm_entries(g, fa.data(), fb.data(), fc.data());
      T* c = static_cast<T*>(g.c);
      for (int64_t e = 0; e < g.batch; ++e)
        for (int64_t j = 0; j < g.n; ++j)
          for (int64_t i = 0; i < g.m; ++i) {
            const int64_t at = e * g.stride_c + j * g.ldc + i;
            c[at] = static_cast<T>(fc[static_cast<size_t>(at)]);
          }
    }
  });
}

void gemm(const GemmArgs& g, const char* name) { gemm_emulated(g, name); }
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

cudaDataType data_type(kernels::KType t) {
  switch (t) {
    case kernels::KType::float64: return CUDA_R_64F;
    case kernels::KType::float16: return CUDA_R_16F;
    case kernels::KType::bfloat16: return CUDA_R_16BF;
    default: return CUDA_R_32F;
  }
}

cublasComputeType_t compute_type(GemmCompute c) {
  switch (c) {
    case GemmCompute::f64: return CUBLAS_COMPUTE_64F;
    case GemmCompute::f32_fast_tf32: return CUBLAS_COMPUTE_32F_FAST_TF32;
    default: return CUBLAS_COMPUTE_32F;
  }
}

cublasOperation_t blas_op(GemmOp op) { return op == GemmOp::n ? CUBLAS_OP_N : CUBLAS_OP_T; }

void gemm(const GemmArgs& g, const char* name) {
  // alpha and beta in the compute type's scale type: double for 64F, float otherwise
  const double alpha64 = g.alpha, beta64 = g.beta;
  const float alpha32 = static_cast<float>(g.alpha), beta32 = static_cast<float>(g.beta);
  const bool f64 = g.compute == GemmCompute::f64;
  const void* alpha = f64 ? static_cast<const void*>(&alpha64) : &alpha32;
  const void* beta = f64 ? static_cast<const void*>(&beta64) : &beta32;
  const cudaDataType type = data_type(g.type);
  auto handle = static_cast<cublasHandle_t>(cuda::rt::blas_handle(name));
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
    s = gemm_ex(handle, blas_op(g.transa), blas_op(g.transb), g.m, g.n, g.k, alpha, g.a, type, g.lda, g.b, type, g.ldb,
                beta, g.c, type, g.ldc, compute_type(g.compute), CUBLAS_GEMM_DEFAULT);
  } else {
    s = gemm_batched(handle, blas_op(g.transa), blas_op(g.transb), g.m, g.n, g.k, alpha, g.a, type, g.lda, g.stride_a,
                     g.b, type, g.ldb, g.stride_b, beta, g.c, type, g.ldc, g.stride_c, g.batch,
                     compute_type(g.compute), CUBLAS_GEMM_DEFAULT);
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
  const int64_t m = out.shape[0], n = out.shape[1], k = in[0].shape[1];
  for_float(out.dtype, [&](auto z) {
    using T = decltype(z);
    auto rows = thrust::make_transform_iterator(Index(0), BiasIndex{n > 0 ? n : 1});
    thrust::gather(AG_POLICY, rows, rows + out.numel, in[2].ptr<T>(), out.ptr<T>());
  });
  if (m > 0 && n > 0 && k > 0)
    gemm(kernels::gemm_args(in[0], false, in[1], false, out, m, n, k, 1, 1.0, cuda::allow_tf32()), name);
}

}  // namespace

void matmul(KOp op, const View* in, int, const View& out, const KAttrs& a, const char* name) {
  if (op == KOp::affine) return affine(in, out, name);
  const View& va = in[0];
  const View& vb = in[1];
  const int nd = out.ndim;
  const int64_t m = out.shape[nd - 2], n = out.shape[nd - 1];
  const int64_t k = a.transpose_a ? va.shape[nd - 2] : va.shape[nd - 1];
  const int64_t batch = out.numel / std::max<int64_t>(1, m * n);
  if (m == 0 || n == 0 || batch == 0) return;
  if (k == 0) {
    // An empty sum. Not a GEMM call: cuBLAS rejects the leading dimension 0 that a (0, m) operand has.
    for_float(out.dtype, [&](auto z) {
      using T = decltype(z);
      thrust::fill(AG_POLICY, out.ptr<T>(), out.ptr<T>() + out.numel, T(0.0f));
    });
    return;
  }
  // batchCount is an int: larger batches go in parts of whole matrices
  const int64_t part = INT_MAX;
  const int64_t sz = kernels::ktype_size(out.dtype);
  for (int64_t done = 0; done < batch; done += part) {
    const int64_t count = std::min(part, batch - done);
    View x = va, y = vb, z = out;
    x.data = static_cast<char*>(va.data) + done * m * k * sz;
    y.data = static_cast<char*>(vb.data) + done * k * n * sz;
    z.data = static_cast<char*>(out.data) + done * m * n * sz;
    x.numel = count * m * k;
    y.numel = count * k * n;
    z.numel = count * m * n;
    gemm(kernels::gemm_args(x, a.transpose_a, y, a.transpose_b, z, m, n, k, count, 0.0, cuda::allow_tf32()), name);
  }
}

}  // namespace ag::AG_KNS
