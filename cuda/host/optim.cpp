// The cuda_host build of cuda/optim.cu (Note [Kernels written once, compiled twice]).
#include "cuda/optim.cu"
