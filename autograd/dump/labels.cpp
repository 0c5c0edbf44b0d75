// Graph dumps: what each op does, for labels: its parameters, its name, its
// backward rule in words and its local derivative.
#include "autograd/dump/internal.hpp"

namespace ag::dump {

// The op's parameters worth showing under its name.
std::string attrs_text(const Trace::Step& st, const Shape& out_shape) {
  const Attrs& a = st.attrs;
  switch (st.op) {
    case Op::repeat: return fmt::format("axis {}, x{}", a.axis, out_shape[static_cast<size_t>(a.axis)]);
    case Op::sum:
    case Op::mean:
    case Op::max:
    case Op::min: return fmt::format("axes {}{}", shape_text(a.axes), a.keepdims ? ", keepdims" : "");
    case Op::softmax:
    case Op::log_softmax: return fmt::format("axis {}", a.axis);
    case Op::pow: return fmt::format("p = {}", a.a);
    case Op::add_scalar:
    case Op::mul_scalar: return fmt::format("c = {}", a.a);
    case Op::leaky_relu: return fmt::format("slope {}", a.a);
    case Op::elu: return fmt::format("alpha {}", a.a);
    case Op::clip: return fmt::format("[{}, {}]", a.a, a.b);
    case Op::permute: return fmt::format("perm {}", shape_text(a.axes));
    case Op::slice: return fmt::format("axis {}, {}:{}:{}", a.axis, a.start, a.stop, a.step);
    case Op::cast: return fmt::format("to {}", a.dtype);
    case Op::matmul:
      return fmt::format("{}{}", a.transpose_a ? "A^T " : "", a.transpose_b ? "B^T" : "");
    case Op::softmax_cross_entropy:
    case Op::nll:
    case Op::mse:
    case Op::bce:
    case Op::bce_with_logits: return a.reduction == 0 ? "mean" : "sum";
    default: return "";
  }
}

// The step's op name, or a user-defined op's own name.
std::string label_of(const Trace::Step& st) { return st.label.empty() ? std::string(op_name(st.op)) : st.label; }

// The op's backward rule in the textbook's notation: dy is the upstream
// gradient dL/dy, dx the downstream dL/dx.
std::string rule_text(const Trace::Step& st) {
  switch (st.op) {
    case Op::add: return "da = dy, db = dy";
    case Op::sub: return "da = dy, db = \u2212dy";
    case Op::mul: return "da = dy \u00b7 b, db = dy \u00b7 a";
    case Op::div: return "da = dy / b, db = \u2212dy \u00b7 a / b\u00b2";
    case Op::neg: return "dx = \u2212dy";
    case Op::add_scalar: return "dx = dy";
    case Op::mul_scalar: return "dx = c \u00b7 dy";
    case Op::pow: return "dx = dy \u00b7 p \u00b7 x^(p\u22121)";
    case Op::exp: return "dx = dy \u00b7 y";
    case Op::log: return "dx = dy / x";
    case Op::sqrt: return "dx = dy / (2y)";
    case Op::abs: return "dx = dy \u00b7 sign(x)";
    case Op::sigmoid: return "dx = dy \u00b7 y(1 \u2212 y)";
    case Op::tanh: return "dx = dy \u00b7 (1 \u2212 y\u00b2)";
    case Op::relu: return "dx = dy \u00b7 [x > 0]";
    case Op::clone: return "dx = dy";
    case Op::sum: return "dx = dy repeated along the summed axes (Repeat)";
    case Op::mean: return "dx = dy / n repeated along the reduced axes";
    case Op::repeat: return "dx = dy summed over the repeated axis (Sum)";
    case Op::reshape: return "dx = dy reshaped back to x's shape";
    case Op::matmul: return "dA = dY \u00b7 B\u1d40, dB = A\u1d40 \u00b7 dY";
    case Op::softmax: return "dx = y \u00b7 (dy \u2212 \u03a3 dy \u00b7 y)";
    case Op::log_softmax: return "dx = dy \u2212 softmax(x) \u00b7 \u03a3 dy";
    case Op::softmax_cross_entropy: return "dx = dy \u00b7 (softmax(x) \u2212 t) / N";
    case Op::mse: return "dp = dy \u00b7 2(p \u2212 t) / N";
    case Op::custom: return fmt::format("the backward() of the user-defined op {}", st.label);
    default: {
      const OpInfo& info = op_info(st.op);
      return fmt::format("see AG_BACKWARD({}) in autograd/ops/{}.cpp", info.name, info.family);
    }
  }
}

// The local derivative dy/dx_i of an element-wise step, from the traced values
// (undefined where the op has no element-wise form).
Tensor local_derivative(const Trace& tr, const Trace::Step& st, size_t i) {
  auto in = [&](size_t k) { return tr.values()[static_cast<size_t>(st.inputs[k])].data; };
  const Tensor y = tr.values()[static_cast<size_t>(st.output)].data;
  const Tensor x = in(i);
  if (!is_floating(x.dtype()) || x.shape() != y.shape()) return {};
  NoGradGuard off;
  switch (st.op) {
    case Op::add:
    case Op::add_scalar:
    case Op::clone: return ones_like(y);
    case Op::sub: return full(y.shape(), i == 0 ? 1.0 : -1.0, y.dtype());
    case Op::neg: return full(y.shape(), -1.0, y.dtype());
    case Op::mul_scalar: return full(y.shape(), st.attrs.a, y.dtype());
    case Op::mul: return in(1 - i);
    case Op::div: return i == 0 ? 1.0 / in(1) : -in(0) / (in(1) * in(1));
    case Op::pow: return pow(x, st.attrs.a - 1.0) * st.attrs.a;
    case Op::exp: return y;
    case Op::log: return 1.0 / x;
    case Op::sqrt: return 0.5 / y;
    case Op::sigmoid: return y * (1.0 - y);
    case Op::tanh: return 1.0 - y * y;
    case Op::relu: return heaviside(x);
    default: return {};
  }
}

}  // namespace ag::dump
