// The cuda_host build of cuda/reduce.cu (Note [Kernels written once, compiled twice]).
#include "cuda/reduce.cu"
