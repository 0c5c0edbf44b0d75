// The cuda_host build of cuda/inplace.cu (Note [Kernels written once, compiled twice]).
#include "cuda/inplace.cu"
