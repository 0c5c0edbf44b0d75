// ag::dist: collectives across processes for data-parallel training, on
// existing engines: MPI for cpu tensors, NCCL for CUDA tensors where built
// (docs/distributed.md). Without MPI, or in a process not started by mpirun,
// the world is this one process and every collective is the identity.
#pragma once

#include "../config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <memory>
#include <string>

#include "../tensor.hpp"

namespace ag::dist {

enum class ReduceOp { sum, avg, max };

struct InitOptions {
  // A collective that has not completed after this many seconds throws
  // ag::Error (and the process then aborts the job, Note [Failing together]).
  // Negative: the environment's TAPEGRAD_DIST_TIMEOUT, else 300.
  double timeout_s = -1;
  // Exchange a header (op, dtype, device, shape) before each collective and
  // report a mismatch across ranks as an ag::Error naming the rank. Costs one
  // small allgather per collective; off: a mismatch is undefined behaviour.
  bool check = true;
};

// Joins the job mpirun (or srun) started; a second call does nothing. In a
// process started without mpirun, or a build without MPI: world size 1.
void init(const InitOptions& opts = {});
// Whether init() joined a world of MPI processes (false for world size 1 without MPI).
bool is_mpi();
// Whether this build has MPI (meson option dist) and NCCL.
bool built_with_mpi();
bool built_with_nccl();
// This process's rank in 0 .. world_size() - 1 (0 before init()).
int rank();
int world_size();
// The seconds a collective may wait (InitOptions::timeout_s).
double timeout_s();
// Ends MPI (also done at exit); after an error it aborts the whole job instead.
void finalize();
// Ends every process of the job now with `code` (MPI_Abort; exit() without MPI).
[[noreturn]] void abort(int code = 1);

// Waits until every rank has called it.
void barrier();
// Reduces `t` over all ranks in place: every rank ends with the sum, mean or
// max. float32/float64 (and int64 for sum and max); float16 and bfloat16 are
// reduced in float32 and rounded back.
void all_reduce(Tensor& t, ReduceOp op = ReduceOp::sum);
// Copies root's `t` into every rank's `t` (same shape and dtype on every rank); any dtype (sent as bytes).
void broadcast(Tensor& t, int root = 0);
// Every rank's `t` (the same shape on each), stacked: shape (world_size, *t.shape()).
Tensor all_gather(const Tensor& t);
// Reduces `t` (shape (n, ...), the same on every rank) over all ranks and
// returns this rank's rows of the result: rows [n*r/w, n*(r+1)/w), so the
// first ranks get one row fewer when w does not divide n.
Tensor reduce_scatter(const Tensor& t, ReduceOp op = ReduceOp::sum);

// A collective started without waiting (all_reduce_async), for overlapping
// communication with computation; wait() finishes it (then `t` holds the
// result). Destroying an unfinished Work waits for it.
class Work {
 public:
  struct Impl;
  Work();
  explicit Work(std::unique_ptr<Impl> impl);
  Work(Work&&) noexcept;
  Work& operator=(Work&&) noexcept;
  ~Work();
  // Lets the engine progress the transfer (MPI needs calls to move data); true when done.
  bool test();
  void wait();

 private:
  std::unique_ptr<Impl> impl_;
};
// Starts all_reduce(t, op) for a contiguous cpu float32/float64 tensor; no header check
// (the caller checks once that every rank will pass the same tensors, e.g. nn::DataParallel).
Work all_reduce_async(Tensor& t, ReduceOp op = ReduceOp::sum);

}  // namespace ag::dist

#endif  // TAPEGRAD_CXX20
