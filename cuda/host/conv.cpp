// The cuda_host build of cuda/conv.cu (Note [Kernels written once, compiled twice]).
#include "cuda/conv.cu"
