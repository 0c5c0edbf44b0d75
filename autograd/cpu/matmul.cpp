// CPU kernels of MatMul and Affine: ag::cpu::gemm (gemm.hpp), one call per batch matrix.
#include <algorithm>

#include "autograd/cpu/gemm.hpp"
#include "autograd/ops/op.hpp"

namespace ag::cpu {

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
  const int64_t lda = sa[nd - 1], ldb = sb[nd - 1];
  for (int64_t i = 0; i < batch; ++i)
    gemm(attrs.transpose_a, attrs.transpose_b, m, n, k, a + i * m * k, lda, b + i * k * n, ldb, T(0), y + i * m * n, n);
}

// y = x W + b: each row of y starts as b, then one GEMM adds x W (beta = 1), so
// the bias costs no pass of its own and no broadcast copy.
template <class T> void affine(std::span<const Tensor> in, Tensor& out, const Attrs&) {
  const int64_t n = out.shape()[0], o = out.shape()[1], k = in[0].shape()[1];
  const T* b = in[2].impl()->data<T>();
  T* y = out.impl()->data<T>();
  for (int64_t i = 0; i < n; ++i) std::copy_n(b, o, y + i * o);
  if (n == 0 || o == 0 || k == 0) return;
  gemm(false, false, n, o, k, in[0].impl()->data<T>(), k, in[1].impl()->data<T>(), o, T(1), y, o);
}

AG_CPU_KERNEL(matmul, matmul);
AG_CPU_KERNEL(affine, affine);

}  // namespace ag::cpu
