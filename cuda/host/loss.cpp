// The cuda_host build of cuda/loss.cu (Note [Kernels written once, compiled twice]).
#include "cuda/loss.cu"
