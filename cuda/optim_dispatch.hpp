// The host side of the fused optimiser kernels (cuda/optim.cu): a table from
// device kind to kernel, filled by cuda/register.cpp for each kind this build
// has, and the call nn/optim.cpp makes for a parameter on a device.
#pragma once

#include <span>

#include "autograd/tensor.hpp"
#include "cuda/kernels.hpp"

namespace ag::cuda {

// The fused optimiser kernel of one device kind (ag::cuda_kernels::optim_update or its cuda_host twin).
using OptimKernel = void (*)(optim_ops::Kind, const kernels::View& p, const kernels::View& g,
                             const kernels::View* state, int nstate, const optim_ops::Params&);
void register_optim_kernel(Device::Kind kind, OptimKernel kernel);

// Updates p in place from g and its state buffers (optim_ops::nstate(kind) of them), all on p's
// device with p's shape and dtype, in one kernel; an ag::Error naming `who` when p's device has no kernels.
void optim_update(optim_ops::Kind kind, const Tensor& p, const Tensor& g, std::span<const Tensor> state,
                  const optim_ops::Params& params, const char* who);

}  // namespace ag::cuda
