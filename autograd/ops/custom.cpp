// The `custom` op: a node whose forward and backward are a user's Function.
#include "autograd/function.hpp"
#include "autograd/ops/builder.hpp"

namespace ag {

void FunctionCtx::save(const Tensor& t) {
  if (!to_save_) fail("custom", "FunctionCtx::save is only available in forward()");
  to_save_->push_back(t);
}

Tensor FunctionCtx::saved(int i) const {
  if (!backward_) fail("custom", "FunctionCtx::saved is only available in backward()");
  if (i < 0 || static_cast<size_t>(i) >= backward_->node().saved.size())
    fail(backward_->node().function->name(), "saved tensor {} requested, but forward saved {}", i,
         backward_->node().saved.size());
  return backward_->saved(i);
}

bool FunctionCtx::needs_grad(int input) const {
  if (!backward_) fail("custom", "FunctionCtx::needs_grad is only available in backward()");
  return backward_->needs_grad(input);
}

Tensor apply(std::shared_ptr<Function> f, std::span<const Tensor> inputs) {
  if (!f) fail("custom", "apply() needs a Function, got nullptr");
  if (inputs.empty()) fail(f->name(), "a user-defined op needs at least one input");
  FunctionCtx ctx;
  std::vector<Tensor> to_save;
  ctx.to_save_ = &to_save;
  Tensor y;
  {
    GradModeGuard off(false);
    y = f->forward(ctx, inputs);
  }
  if (!y.defined()) fail(f->name(), "forward() returned an undefined tensor");
  // The output must be a tensor of its own, not an input or a view of one's recorded state.
  for (const Tensor& x : inputs)
    if (y.impl() == x.impl()) y = y.detach();
  if (detail::tl_anomaly) detail::check_anomaly_forward(Op::custom, y);
  if (!grad_mode_enabled()) return y;
  bool any = false;
  for (const Tensor& x : inputs) any = any || x.requires_grad();
  if (!any) return y;
  if (y.impl()->node >= 0 || y.impl()->requires_grad) y = y.detach();
  Node* n = detail::record_node(Op::custom, inputs, y, {}, f);
  for (const Tensor& t : to_save) n->save(t);
  return y;
}

Tensor apply(std::shared_ptr<Function> f, std::initializer_list<Tensor> inputs) {
  return apply(std::move(f), std::span<const Tensor>(inputs.begin(), inputs.size()));
}

struct CustomRule {
  static void run(BackwardCtx& bctx, const Tensor& gy, Grads& gx) {
    FunctionCtx ctx;
    ctx.backward_ = &bctx;
    bctx.node().function->backward(ctx, gy, gx);
  }
};

// the user's backward
AG_BACKWARD(custom) { CustomRule::run(ctx, gy, gx); }

namespace {
// The sampled check of the custom machinery: x^3 written as a user would.
struct Cube : Function {
  std::string_view name() const override { return "cube"; }
  Tensor forward(FunctionCtx& ctx, std::span<const Tensor> x) override {
    ctx.save(x[0]);
    return x[0] * x[0] * x[0];
  }
  // d x^3/dx = 3x^2
  void backward(FunctionCtx& ctx, const Tensor& gy, Grads& gx) override {
    Tensor x = ctx.saved(0);
    gx[0] = gy * (x * x) * 3.0;
  }
};
}  // namespace

AG_SAMPLE(custom) { return apply(std::make_shared<Cube>(), {x[0]}); }

}  // namespace ag
