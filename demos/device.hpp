// --device for the demos that train: cpu, cuda (GPU 0) or cuda_host (the host
// emulation of the CUDA backend, docs/cuda.md).
#pragma once

#include <string>

#include "autograd/backend.hpp"
#include "autograd/tapegrad.hpp"
#include "cli.hpp"
#include "cuda/cuda.hpp"

namespace demo {

// --device NAME into `name` (its value is the default): where `what` runs.
inline CLI::Option* device_option(Cli& cli, std::string& name, const std::string& what) {
  return cli.choice("--device", name, {"cpu", "cuda", "cuda_host"},
                    "where " + what + " runs: cpu, cuda (GPU 0) or cuda_host (the host emulation of the CUDA kernels)");
}

// The device `name` names, once it is known to be usable: otherwise an ag::Error
// tagged `demo` that says why (for cuda, the CUDA runtime's reason).
inline ag::Device parse_device(const std::string& name, const char* demo) {
  if (name == "cpu") return ag::Device::cpu();
  if (name == "cuda") {
    if (!ag::cuda::is_available())
      ag::fail(demo, "--device cuda: no usable GPU: {} (--device cuda_host runs the same kernels on the host)",
               ag::cuda::unavailable_reason());
    return ag::Device::cuda(0);
  }
  if (name == "cuda_host") {
    ag::backend(ag::Device::cuda_host(0), demo);  // an error when this build lacks the emulation
    return ag::Device::cuda_host(0);
  }
  ag::fail(demo, "unknown device '{}' (cpu, cuda or cuda_host)", name);
}

}  // namespace demo
