// CPU kernel of MatMul: CBLAS gemm (OpenBLAS), one call per batch matrix.
#include <cblas.h>

#include <algorithm>

#include "autograd/ops/op.hpp"

namespace ag::cpu {

namespace {
// C = op(A) op(B) + beta C
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const float* a, int lda, const float* b,
          int ldb, float* c, int ldc, float beta = 0.0f) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const double* a, int lda, const double* b,
          int ldb, double* c, int ldc, double beta = 0.0) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc);
}
}  // namespace

template <class T> void matmul(std::span<const Tensor> in, Tensor& out, const Attrs& attrs) {
  const Shape& sa = in[0].shape();
  const Shape& sb = in[1].shape();
  const Shape& sy = out.shape();
  const size_t nd = sy.size();
  const int64_t m = sy[nd - 2], n = sy[nd - 1];
  const int64_t k = attrs.transpose_a ? sa[nd - 2] : sa[nd - 1];
  const int64_t batch = out.numel() / std::max<int64_t>(1, m * n);
  const T* a = in[0].impl()->data<T>();
  const T* b = in[1].impl()->data<T>();
  T* y = out.impl()->data<T>();
  if (m == 0 || n == 0) return;
  if (k == 0) {
    std::fill_n(y, out.numel(), T(0));
    return;
  }
  const auto ta = attrs.transpose_a ? CblasTrans : CblasNoTrans;
  const auto tb = attrs.transpose_b ? CblasTrans : CblasNoTrans;
  const int lda = static_cast<int>(sa[nd - 1]), ldb = static_cast<int>(sb[nd - 1]);
  for (int64_t i = 0; i < batch; ++i)
    gemm(ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), a + i * m * k, lda, b + i * k * n, ldb,
         y + i * m * n, static_cast<int>(n));
}

// y = x W + b: each row of y starts as b, then one GEMM adds x W (beta = 1), so
// the bias costs no pass of its own and no broadcast copy.
template <class T> void affine(std::span<const Tensor> in, Tensor& out, const Attrs&) {
  const int64_t n = out.shape()[0], o = out.shape()[1], k = in[0].shape()[1];
  const T* b = in[2].impl()->data<T>();
  T* y = out.impl()->data<T>();
  for (int64_t i = 0; i < n; ++i) std::copy_n(b, o, y + i * o);
  if (n == 0 || o == 0 || k == 0) return;
  gemm(CblasNoTrans, CblasNoTrans, static_cast<int>(n), static_cast<int>(o), static_cast<int>(k),
       in[0].impl()->data<T>(), static_cast<int>(k), in[1].impl()->data<T>(), static_cast<int>(o), y,
       static_cast<int>(o), T(1));
}

AG_CPU_KERNEL(matmul, matmul);
AG_CPU_KERNEL(affine, affine);

}  // namespace ag::cpu
