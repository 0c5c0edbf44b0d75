// The cuda_host build of cuda/matmul.cu (Note [Kernels written once, compiled twice]).
#include "cuda/matmul.cu"
