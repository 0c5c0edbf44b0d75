// Collectives on CUDA tensors through NCCL (built with the CUDA backend when
// nccl.h is found; docs/distributed.md). One communicator per GPU index, made
// on first use: rank 0 draws NCCL's unique id and MPI broadcasts it. Each
// collective is queued on the tensor's device stream, so it is ordered with
// the kernels before and after it like any other op, and nothing waits on the host.
#include "autograd/dist/nccl.hpp"

#include <map>

#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#include <nccl.h>

#include "cuda/runtime.hpp"

namespace ag::dist::nccl {

namespace {

void check(ncclResult_t r, const char* who, const char* call) {
  if (r != ncclSuccess) fail(who, "{} failed: {} (NCCL {})", call, ncclGetErrorString(r), static_cast<int>(r));
}

ncclDataType_t nccl_type(DType d, const char* who) {
  switch (d) {
    case DType::float32: return ncclFloat32;
    case DType::float64: return ncclFloat64;
    case DType::float16: return ncclFloat16;
    case DType::bfloat16: return ncclBfloat16;
    case DType::int64: return ncclInt64;
  }
  fail(who, "no NCCL type for {}", d);
}

ncclRedOp_t nccl_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return ncclSum;
    case ReduceOp::avg: return ncclAvg;
    case ReduceOp::max: return ncclMax;
  }
  return ncclSum;
}

// The communicator of GPU `device`, and makes the device current (its stream is where we queue).
ncclComm_t comm_for(int device, int rank, int world, const char* who) {
  static std::map<int, ncclComm_t> comms;
  ag::cuda::rt::set_device(device, who);
  auto it = comms.find(device);
  if (it != comms.end()) return it->second;
  ncclUniqueId id;
  if (rank == 0) check(ncclGetUniqueId(&id), who, "ncclGetUniqueId");
  MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
  ncclComm_t comm;
  check(ncclCommInitRank(&comm, world, id, rank), who, "ncclCommInitRank");
  comms.emplace(device, comm);
  return comm;
}

cudaStream_t stream() { return static_cast<cudaStream_t>(ag::cuda::rt::current_stream()); }

}  // namespace

bool handles(const Tensor& t) { return t.device().kind == Device::Kind::cuda; }

void all_reduce(Tensor& t, ReduceOp op, int rank, int world) {
  ncclComm_t c = comm_for(t.device().index, rank, world, "all_reduce");
  void* p = t.impl()->storage->data;
  check(ncclAllReduce(p, p, static_cast<size_t>(t.numel()), nccl_type(t.dtype(), "all_reduce"), nccl_op(op), c, stream()),
        "all_reduce", "ncclAllReduce");
  ++t.impl()->storage->version;
}

void broadcast(Tensor& t, int root, int rank, int world) {
  ncclComm_t c = comm_for(t.device().index, rank, world, "broadcast");
  void* p = t.impl()->storage->data;
  check(ncclBroadcast(p, p, static_cast<size_t>(t.numel()) * dtype_size(t.dtype()), ncclUint8, root, c, stream()),
        "broadcast", "ncclBroadcast");
  ++t.impl()->storage->version;
}

void all_gather(const Tensor& t, Tensor& out, int rank, int world) {
  ncclComm_t c = comm_for(t.device().index, rank, world, "all_gather");
  check(ncclAllGather(t.impl()->storage->data, out.impl()->storage->data,
                      static_cast<size_t>(t.numel()) * dtype_size(t.dtype()), ncclUint8, c, stream()),
        "all_gather", "ncclAllGather");
}

void reduce_scatter(const Tensor& t, Tensor& out, ReduceOp op, const std::vector<int64_t>& counts, int rank, int world) {
  // NCCL's reduce-scatter takes equal parts: uneven parts are a reduce to each owner in turn.
  ncclComm_t c = comm_for(t.device().index, rank, world, "reduce_scatter");
  const ncclDataType_t type = nccl_type(t.dtype(), "reduce_scatter");
  const size_t es = dtype_size(t.dtype());
  const auto* src = static_cast<const std::byte*>(t.impl()->storage->data);
  check(ncclGroupStart(), "reduce_scatter", "ncclGroupStart");
  size_t offset = 0;
  for (int r = 0; r < world; ++r) {
    const auto n = static_cast<size_t>(counts[static_cast<size_t>(r)]);
    check(ncclReduce(src + offset * es, r == rank ? out.impl()->storage->data : nullptr, n, type, nccl_op(op), r, c,
                     stream()),
          "reduce_scatter", "ncclReduce");
    offset += n;
  }
  check(ncclGroupEnd(), "reduce_scatter", "ncclGroupEnd");
}

}  // namespace ag::dist::nccl
