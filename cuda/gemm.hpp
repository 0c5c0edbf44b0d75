// The arguments of one cuBLAS GEMM call, prepared once for both builds of
// cuda/matmul.cu (Note [One GEMM description, two executors] there). Plain
// C++ free of fmt and Boost, so that nvcc compiles it and the tests can check
// the preparation and the validation directly.
#pragma once

#include <cstdint>

#include "cuda/kernels.hpp"

namespace ag::kernels {

// cublasOperation_t: the stored matrix as it is (n) or transposed (t).
enum class GemmOp { n, t };
// cublasComputeType_t: CUBLAS_COMPUTE_64F, CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_32F_FAST_TF32.
enum class GemmCompute { f64, f32, f32_fast_tf32 };

// cublasGemmEx (batch == 1) or cublasGemmStridedBatchedEx: column-major
// C = alpha op(A) op(B) + beta C for `batch` matrices, entry i at
// a + i stride_a, b + i stride_b, c + i stride_c. op(A) is m x k, op(B) k x n,
// C m x n; a stored matrix with r rows has its column j at j * ld. alpha and
// beta are passed as double for GemmCompute::f64, as float otherwise.
struct GemmArgs {
  GemmOp transa = GemmOp::n, transb = GemmOp::n;
  int m = 0, n = 0, k = 0;
  const void* a = nullptr;
  int lda = 0;
  int64_t stride_a = 0;
  const void* b = nullptr;
  int ldb = 0;
  int64_t stride_b = 0;
  void* c = nullptr;
  int ldc = 0;
  int64_t stride_c = 0;
  int batch = 1;
  KType type = KType::float32;  // of A, B and C
  GemmCompute compute = GemmCompute::f32;
  double alpha = 1, beta = 0;
  // Elements in the buffers behind a, b and c: not cuBLAS arguments; the
  // cuda_host emulation checks that every matrix lies inside them.
  int64_t a_numel = 0, b_numel = 0, c_numel = 0;
};

// Row-major Z = op(X) op(Y) + beta Z over `batch` contiguous entries: X (m, k),
// stored (k, m) when tx; Y (k, n), stored (n, k) when ty; Z (m, n). cuBLAS is
// column-major, and a row-major matrix read column-major is its transpose, so
// this is Z^T = op(Y)^T op(X)^T: the operands swap, the flags stay, m and n
// swap, and each leading dimension is the length of a stored row. No copy.
// Sizes must fit in int (the op builders check; matmul splits larger batches).
inline GemmArgs gemm_args(const View& x, bool tx, const View& y, bool ty, const View& z, int64_t m, int64_t n,
                          int64_t k, int64_t batch, double beta, bool allow_tf32) {
  GemmArgs g;
  g.transa = ty ? GemmOp::t : GemmOp::n;
  g.transb = tx ? GemmOp::t : GemmOp::n;
  g.m = static_cast<int>(n);
  g.n = static_cast<int>(m);
  g.k = static_cast<int>(k);
  g.a = y.data;
  g.lda = static_cast<int>(ty ? k : n);
  g.stride_a = k * n;
  g.b = x.data;
  g.ldb = static_cast<int>(tx ? m : k);
  g.stride_b = m * k;
  g.c = z.data;
  g.ldc = static_cast<int>(n);
  g.stride_c = m * n;
  g.batch = static_cast<int>(batch);
  g.type = z.dtype;
  // float64 computes in float64; float32, float16 and bfloat16 in float32 (Note [16-bit storage,
  // float32 arithmetic] in autograd/half.hpp), float32 on TF32 tensor cores when the user allows it
  g.compute = z.dtype == KType::float64                  ? GemmCompute::f64
              : z.dtype == KType::float32 && allow_tf32 ? GemmCompute::f32_fast_tf32
                                                          : GemmCompute::f32;
  g.alpha = 1;
  g.beta = beta;
  g.a_numel = y.numel;
  g.b_numel = x.numel;
  g.c_numel = z.numel;
  return g;
}

// What cuBLAS answers for these arguments before computing anything: nullptr
// when it accepts them, else its status and the reason (its documented checks
// of cublasGemmEx and cublasGemmStridedBatchedEx).
inline const char* gemm_invalid(const GemmArgs& g) {
  if (g.m < 0 || g.n < 0 || g.k < 0) return "CUBLAS_STATUS_INVALID_VALUE: m, n or k < 0";
  if (g.batch < 0) return "CUBLAS_STATUS_INVALID_VALUE: batchCount < 0";
  const int rows_a = g.transa == GemmOp::n ? g.m : g.k, rows_b = g.transb == GemmOp::n ? g.k : g.n;
  if (g.lda < (rows_a > 1 ? rows_a : 1))
    return "CUBLAS_STATUS_INVALID_VALUE: lda < max(1, m) with transa = N, or < max(1, k) with transa = T";
  if (g.ldb < (rows_b > 1 ? rows_b : 1))
    return "CUBLAS_STATUS_INVALID_VALUE: ldb < max(1, k) with transb = N, or < max(1, n) with transb = T";
  if (g.ldc < (g.m > 1 ? g.m : 1)) return "CUBLAS_STATUS_INVALID_VALUE: ldc < max(1, m)";
  const bool f64 = g.type == KType::float64, f32 = g.type == KType::float32;
  const bool f16 = g.type == KType::float16 || g.type == KType::bfloat16;
  if ((g.compute == GemmCompute::f64 && !f64) || (g.compute == GemmCompute::f32 && !f32 && !f16) ||
      (g.compute == GemmCompute::f32_fast_tf32 && !f32))
    return "CUBLAS_STATUS_NOT_SUPPORTED: the data type does not go with the compute type";
  return nullptr;
}

namespace detail {
// Whether a stored matrix of `rows` x `cols`, column j at j * ld, entry i at i * stride, lies in numel elements.
inline bool gemm_fits(int64_t rows, int64_t cols, int64_t ld, int64_t stride, int64_t batch, int64_t numel) {
  if (rows == 0 || cols == 0 || batch == 0) return true;
  return (batch - 1) * stride + (cols - 1) * ld + rows <= numel;
}
}  // namespace detail

// What the device would do wrong with arguments cuBLAS accepts: read or write
// outside the tensors, or let batch entries of C overlap (a race). nullptr
// when there is nothing; the cuda_host emulation checks it before every call.
inline const char* gemm_outside(const GemmArgs& g) {
  const int64_t ra = g.transa == GemmOp::n ? g.m : g.k, ca = g.transa == GemmOp::n ? g.k : g.m;
  const int64_t rb = g.transb == GemmOp::n ? g.k : g.n, cb = g.transb == GemmOp::n ? g.n : g.k;
  if (g.k > 0 && !detail::gemm_fits(ra, ca, g.lda, g.stride_a, g.batch, g.a_numel))
    return "A (lda, stride_a) reaches past the end of its tensor";
  if (g.k > 0 && !detail::gemm_fits(rb, cb, g.ldb, g.stride_b, g.batch, g.b_numel))
    return "B (ldb, stride_b) reaches past the end of its tensor";
  if (!detail::gemm_fits(g.m, g.n, g.ldc, g.stride_c, g.batch, g.c_numel))
    return "C (ldc, stride_c) reaches past the end of its tensor";
  if (g.batch > 1 && g.m > 0 && g.n > 0 && g.stride_c < int64_t{g.ldc} * (g.n - 1) + g.m)
    return "the batch entries of C overlap (stride_c too small)";
  return nullptr;
}

}  // namespace ag::kernels
