// The NCCL side of ag::dist (nccl.cpp), used by dist.cpp for CUDA tensors
// when the build has it (AG_HAVE_NCCL). Not installed: internal.
#pragma once

#include <vector>

#include "autograd/dist/dist.hpp"

namespace ag::dist::nccl {

// Whether NCCL runs this tensor's collectives (a tensor on a CUDA GPU).
bool handles(const Tensor& t);
// The collectives, queued on the tensor's device stream; shapes were checked by dist.cpp.
void all_reduce(Tensor& t, ReduceOp op, int rank, int world);
void broadcast(Tensor& t, int root, int rank, int world);
void all_gather(const Tensor& t, Tensor& out, int rank, int world);
// counts[r]: the elements rank r receives (out holds counts[rank]).
void reduce_scatter(const Tensor& t, Tensor& out, ReduceOp op, const std::vector<int64_t>& counts, int rank, int world);

}  // namespace ag::dist::nccl
