// MatMul: Y = A B, 2-D and batched. Its backward multiplies the upstream
// gradient by the other operand, transposed: dA = dY B^T, dB = A^T dY.
#include "autograd/autocast.hpp"
#include "autograd/ops/builder.hpp"

namespace ag {

namespace detail {
namespace {

// op(A) op(B) where op transposes the last two axes when flagged; A and B
// have equal batch axes. The transposes are gemm flags, never copies.
Tensor matmul_ex(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  const size_t na = sa.size(), nb = sb.size();
  const int64_t m = ta ? sa[na - 1] : sa[na - 2], k = ta ? sa[na - 2] : sa[na - 1];
  const int64_t kb = tb ? sb[nb - 1] : sb[nb - 2], n = tb ? sb[nb - 2] : sb[nb - 1];
  if (k != kb) fail("matmul", "inner dimensions differ: lhs {}, rhs {}", sa, sb);
  constexpr int64_t kMaxDim = 2147483647;  // CBLAS takes int sizes
  if (m > kMaxDim || n > kMaxDim || k > kMaxDim)
    fail("matmul", "a matrix side exceeds 2^31 - 1: lhs {}, rhs {}", sa, sb);
  Shape s(sa.begin(), sa.end() - 2);
  s.push_back(m);
  s.push_back(n);
  Attrs attrs;
  attrs.transpose_a = ta;
  attrs.transpose_b = tb;
  auto [y, node] = run<2>(Op::matmul, {a, b}, s, a.dtype(), attrs);
  if (node) {
    node->save(a);
    node->save(b);
  }
  return y;
}

// The 16-bit type to run this float32 product in (Note [Autocast]), or none.
std::optional<DType> autocast_for(Op op, std::initializer_list<const Tensor*> xs) {
  const std::optional<DType> to = autocast_dtype();
  if (!to) return std::nullopt;
  for (const Tensor* x : xs)
    if (x->dtype() != DType::float32) return std::nullopt;
  const Device device = (*xs.begin())->device();
  if (!has_kernel(op, device, *to))
    fail(op_name(op), "autocast to {} needs {} kernels in {} on {}, which has none; run the model on a device that "
                      "has them (cuda, cuda_host) or construct the AutocastGuard with enabled = false",
         *to, op_name(op), *to, device);
  return to;
}

}  // namespace
}  // namespace detail

Tensor matmul(const Tensor& a, const Tensor& b) {
  if (const auto h = detail::autocast_for(Op::matmul, {&a, &b}))
    return cast(matmul(cast(a, *h), cast(b, *h)), DType::float32);
  detail::check_pair(Op::matmul, a, b);
  detail::check_float(Op::matmul, a);
  if (a.dim() < 2 || b.dim() < 2)
    fail("matmul", "needs operands with at least 2 axes, got lhs {} and rhs {}; use reshape or unsqueeze to make a "
                   "row or column",
         a.shape(), b.shape());
  const Shape& sa = a.shape();
  const Shape& sb = b.shape();
  if (sa.back() != sb[sb.size() - 2]) fail("matmul", "inner dimensions differ: lhs {}, rhs {}", sa, sb);
  if (a.dim() > 2 && b.dim() == 2) {
    // (..., m, k) @ (k, n): one product of the rows of all matrices
    Shape s(sa.begin(), sa.end() - 1);
    s.push_back(sb.back());
    return reshape(detail::matmul_ex(reshape(a, {-1, sa.back()}), b, false, false), s);
  }
  if (a.dim() != b.dim() || !std::equal(sa.begin(), sa.end() - 2, sb.begin())) {
    Shape batch_a(sa.begin(), sa.end() - 2), batch_b(sb.begin(), sb.end() - 2);
    Shape batch = broadcast_shapes(batch_a, batch_b, "matmul");
    Shape ta = batch, tb = batch;
    ta.insert(ta.end(), sa.end() - 2, sa.end());
    tb.insert(tb.end(), sb.end() - 2, sb.end());
    return detail::matmul_ex(detail::broadcast_operand(a, ta), detail::broadcast_operand(b, tb), false, false);
  }
  return detail::matmul_ex(a, b, false, false);
}
// C = op(A) op(B): d op(A) = dC op(B)^T and d op(B) = op(A)^T dC, transposed back where op transposes
AG_BACKWARD(matmul) {
  const bool ta = ctx.attrs().transpose_a, tb = ctx.attrs().transpose_b;
  Tensor a = ctx.saved(0), b = ctx.saved(1);
  if (ctx.needs_grad(0)) gx[0] = ta ? detail::matmul_ex(b, gy, tb, true) : detail::matmul_ex(gy, b, false, !tb);
  if (ctx.needs_grad(1)) gx[1] = tb ? detail::matmul_ex(gy, a, true, ta) : detail::matmul_ex(a, gy, !ta, false);
}
AG_SAMPLE(matmul) { return matmul(x[0], x[1]); }

Tensor affine(const Tensor& x, const Tensor& w, const Tensor& b) {
  if (const auto h = detail::autocast_for(Op::affine, {&x, &w, &b}))
    return cast(affine(cast(x, *h), cast(w, *h), cast(b, *h)), DType::float32);
  detail::check_pair(Op::affine, x, w);
  detail::check_pair(Op::affine, x, b);
  detail::check_float(Op::affine, x);
  if (x.dim() != 2 || w.dim() != 2 || b.dim() != 1 || x.shape()[1] != w.shape()[0] || b.shape()[0] != w.shape()[1])
    fail("affine", "expects x (n, in), W (in, out) and b (out,); got x {}, W {}, b {}", x.shape(), w.shape(),
         b.shape());
  auto [y, n] = detail::run<3>(Op::affine, {x, w, b}, {x.shape()[0], w.shape()[1]}, x.dtype());
  if (n) {
    n->save(x);
    n->save(w);
  }
  return y;
}
// y = x W + b: dx = gy W^T, dW = x^T gy (MatMul's rule), db = gy summed over the rows (Repeat's rule)
AG_BACKWARD(affine) {
  if (ctx.needs_grad(0)) gx[0] = detail::matmul_ex(gy, ctx.saved(1), false, true);
  if (ctx.needs_grad(1)) gx[1] = detail::matmul_ex(ctx.saved(0), gy, true, false);
  if (ctx.needs_grad(2)) gx[2] = sum(gy, {0});
}
AG_SAMPLE(affine) { return affine(x[0], x[1], x[2]); }

}  // namespace ag
