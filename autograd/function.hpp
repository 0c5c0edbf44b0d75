// User-defined ops: a forward and a backward written in your own code, recorded
// on the tape like any built-in op (as op `custom`, labelled with your name),
// and covered by the per-node gradient checker. See docs/gradcheck.md.
//
//   struct Cube : ag::Function {
//     std::string_view name() const override { return "cube"; }
//     ag::Tensor forward(ag::FunctionCtx& ctx, std::span<const ag::Tensor> x) override {
//       ctx.save(x[0]);
//       return x[0] * x[0] * x[0];
//     }
//     void backward(ag::FunctionCtx& ctx, const ag::Tensor& gy, ag::Grads& gx) override {
//       gx[0] = gy * 3.0 * ctx.saved(0) * ctx.saved(0);  // d x^3/dx = 3x^2
//     }
//   };
//   ag::Tensor y = ag::apply(std::make_shared<Cube>(), {x});
#pragma once

#include "config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "tensor.hpp"

namespace ag {

class BackwardCtx;  // ops/op.hpp

// What forward and backward share: tensors saved in forward, read in backward
// (checked against in-place modification like any saved tensor).
class FunctionCtx {
 public:
  // In forward: keep t for backward.
  void save(const Tensor& t);
  // In backward: saved tensor i.
  Tensor saved(int i) const;
  // In backward: whether input i needs a gradient.
  bool needs_grad(int input) const;

 private:
  friend Tensor apply(std::shared_ptr<class Function> f, std::span<const Tensor> inputs);
  friend struct CustomRule;
  std::vector<Tensor>* to_save_ = nullptr;
  const BackwardCtx* backward_ = nullptr;
};

class Function {
 public:
  virtual ~Function() = default;
  // The name shown in graph dumps, check tables and error messages.
  virtual std::string_view name() const = 0;
  // Computes the output from the inputs. Runs with recording off: ops here are not recorded.
  virtual Tensor forward(FunctionCtx& ctx, std::span<const Tensor> inputs) = 0;
  // Fills gx[i] (for each input i that needs a gradient) from the upstream gradient gy.
  // Write it with ag ops so that it works with create_graph (higher order) too.
  virtual void backward(FunctionCtx& ctx, const Tensor& gy, Grads& gx) = 0;
  // Optional: a kernel for other devices can be dispatched from forward by t.device().
};

// Runs f on the inputs and records one node for it when an input requires grad.
Tensor apply(std::shared_ptr<Function> f, std::span<const Tensor> inputs);
Tensor apply(std::shared_ptr<Function> f, std::initializer_list<Tensor> inputs);

}  // namespace ag

#endif  // TAPEGRAD_CXX20
