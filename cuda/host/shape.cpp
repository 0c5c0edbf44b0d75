// The cuda_host build of cuda/shape.cu (Note [Kernels written once, compiled twice]).
#include "cuda/shape.cu"
