// The cuda_host build of cuda/register.cpp: registers the host-compiled kernels for Device::Kind::cuda_host.
#include "cuda/register.cpp"
