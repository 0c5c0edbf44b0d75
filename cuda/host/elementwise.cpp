// The cuda_host build of cuda/elementwise.cu (Note [Kernels written once, compiled twice]).
#include "cuda/elementwise.cu"
