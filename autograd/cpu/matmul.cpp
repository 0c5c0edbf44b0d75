// CPU kernel of MatMul: CBLAS gemm (OpenBLAS), one call per batch matrix.
#include <cblas.h>

#include "autograd/ops/op.hpp"

namespace ag::cpu {

namespace {
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const float* a, int lda, const float* b,
          int ldb, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
}
void gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const double* a, int lda, const double* b,
          int ldb, double* c, int ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, a, lda, b, ldb, 0.0, c, ldc);
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

AG_CPU_KERNEL(matmul, matmul);

}  // namespace ag::cpu
