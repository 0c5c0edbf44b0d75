// The host side of the fused optimiser kernels (see optim_dispatch.hpp).
#include "cuda/optim_dispatch.hpp"

#include <array>
#include <exception>

#include "autograd/error.hpp"
#include "cuda/allocator.hpp"

namespace ag::cuda {

namespace {

std::array<OptimKernel, kNumDeviceKinds>& optim_table() {
  static std::array<OptimKernel, kNumDeviceKinds> table{};
  return table;
}

// The elements of t as one flat view (the update is elementwise).
kernels::View flat(const Tensor& t) {
  kernels::View v;
  v.data = t.impl()->storage->data;
  v.numel = t.numel();
  v.ndim = 1;
  v.shape[0] = t.numel();
  v.dtype = t.dtype();
  return v;
}

}  // namespace

void register_optim_kernel(Device::Kind kind, OptimKernel kernel) { optim_table()[static_cast<size_t>(kind)] = kernel; }

void optim_update(optim_ops::Kind kind, const Tensor& p, const Tensor& g, std::span<const Tensor> state,
                  const optim_ops::Params& params, const char* who) {
  const Device device = p.device();
  const BufferOps& ops = buffer_ops(device, who);  // a clear error when this build has no kernels for the kind
  const OptimKernel kernel = optim_table()[static_cast<size_t>(device.kind)];
  if (!kernel) fail(who, "parameters on {} have no optimiser kernel in this build", device);
  AG_ASSERT(static_cast<int>(state.size()) == optim_ops::nstate(kind), "one state buffer per functor argument");
  auto same = [&](const Tensor& t) { return t.device() == device && t.numel() == p.numel() && t.dtype() == p.dtype(); };
  AG_ASSERT(same(g), "the gradient matches its parameter");
  std::array<kernels::View, 2> views{};
  for (size_t i = 0; i < state.size(); ++i) {
    AG_ASSERT(same(state[i]), "the state buffers match their parameter");
    views[i] = flat(state[i]);
  }
  ops.set_device(device.index, who);
  try {
    kernel(kind, flat(p), flat(g), views.data(), static_cast<int>(state.size()), params);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail(who, "the {} optimiser kernel failed: {}", device, e.what());
  }
}

}  // namespace ag::cuda
