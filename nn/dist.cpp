#include "nn/dist.hpp"

#include <chrono>
#include <cstring>

namespace nn {

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The dtype a gradient is averaged in: 16-bit ones in float32.
ag::DType bucket_dtype(ag::DType d) { return d == ag::DType::float64 ? ag::DType::float64 : ag::DType::float32; }

}  // namespace

DataParallel::DataParallel(Module& module, const DataParallelOptions& opts)
    : module_(module), opts_(opts), params_(module.named_parameters()), t0_(now_seconds()) {
  if (!(opts_.bucket_mb > 0)) ag::fail("DataParallel", "bucket_mb must be positive, got {}", opts_.bucket_mb);
  ag::dist::init();
  {
    ag::NoGradGuard off;
    // The same model on every rank: the count first (a clear error rather than mismatched broadcasts), then values.
    ag::Tensor count = ag::from_vector(std::vector<int64_t>{static_cast<int64_t>(params_.size())}, {1});
    ag::Tensor counts = ag::dist::all_gather(count);
    for (int r = 0; r < ag::dist::world_size(); ++r)
      if (counts.at<int64_t>({r, 0}) != static_cast<int64_t>(params_.size()))
        ag::fail("DataParallel", "rank {} has {} parameters, rank {} has {}: every rank must build the same model", r,
                 counts.at<int64_t>({r, 0}), ag::dist::rank(), params_.size());
    for (auto& [name, t] : params_) {
      if (t.dtype() == ag::DType::int64) ag::fail("DataParallel", "parameter '{}' is int64; gradients need a floating dtype", name);
      ag::dist::broadcast(t, 0);
    }
    for (auto& [name, t] : module.named_buffers()) ag::dist::broadcast(t, 0);
  }
  // Buckets in reverse order of registration, one dtype each.
  const double cap = opts_.bucket_mb * 1024 * 1024;
  bucket_of_.assign(params_.size(), 0);
  double bytes = 0;
  for (size_t k = params_.size(); k-- > 0;) {
    const ag::Tensor& t = params_[k].second;
    const ag::DType d = bucket_dtype(t.dtype());
    const double b = static_cast<double>(t.numel() * static_cast<int64_t>(ag::dtype_size(d)));
    if (buckets_.empty() || (bytes + b > cap && !buckets_.back().params.empty()) ||
        buckets_.back().flat.dtype() != d) {
      buckets_.emplace_back();
      buckets_.back().flat = ag::zeros({0}, d);
      bytes = 0;
    }
    Bucket& bk = buckets_.back();
    bk.offset.push_back(bk.params.empty() ? 0 : bk.offset.back() + params_[bk.params.back()].second.numel());
    bk.params.push_back(k);
    bucket_of_[k] = buckets_.size() - 1;
    bytes += b;
    index_[t.impl()] = k;
  }
  for (Bucket& bk : buckets_) {
    const int64_t n = bk.params.empty() ? 0 : bk.offset.back() + params_[bk.params.back()].second.numel();
    bk.flat = ag::zeros({n}, bk.flat.dtype());
  }
  marked_.assign(params_.size(), 0);
  received_.assign(params_.size(), 0);
  ag::add_backward_hook(this);
}

DataParallel::~DataParallel() { ag::remove_backward_hook(this); }

std::vector<std::vector<std::string>> DataParallel::buckets() const {
  std::vector<std::vector<std::string>> out;
  for (const Bucket& b : buckets_) {
    out.emplace_back();
    for (size_t p : b.params) out.back().push_back(params_[p].first);
  }
  return out;
}

void DataParallel::event(Event::Kind k, int bucket, const std::string& param) {
  if (opts_.record_events) events_.push_back({k, bucket, param, now_seconds() - t0_});
}

void DataParallel::leaf_ready(ag::TensorImpl* leaf, bool received) {
  if (!sync_) return;
  auto it = index_.find(leaf);
  if (it == index_.end()) return;
  touched_ = true;
  mark(it->second, received);
  start_ready_buckets();
  for (size_t k = 0; k < next_start_; ++k) buckets_[k].work.test();  // MPI moves data only inside its calls
}

void DataParallel::mark(size_t p, bool received) {
  if (marked_[p]) return;
  marked_[p] = 1;
  received_[p] = received;
  ++buckets_[bucket_of_[p]].ready;
  event(Event::ready, static_cast<int>(bucket_of_[p]), params_[p].first);
}

void DataParallel::start_ready_buckets() {
  while (next_start_ < buckets_.size() && buckets_[next_start_].ready == buckets_[next_start_].params.size())
    start(buckets_[next_start_++]);
}

void DataParallel::start(Bucket& b) {
  ag::NoGradGuard off;
  const ag::DType d = b.flat.dtype();
  std::byte* flat = static_cast<std::byte*>(b.flat.impl()->storage->data);
  const size_t es = ag::dtype_size(d);
  for (size_t j = 0; j < b.params.size(); ++j) {
    const ag::Tensor& p = params_[b.params[j]].second;
    std::byte* dst = flat + static_cast<size_t>(b.offset[j]) * es;
    const size_t bytes = static_cast<size_t>(p.numel()) * es;
    ag::TensorImpl* g = p.impl()->grad.get();
    if (!g) {
      std::memset(dst, 0, bytes);  // unused here (find_unused_parameters): a zero gradient
      continue;
    }
    ag::Tensor gt(p.impl()->grad);
    if (!gt.device().is_cpu()) gt = gt.to(ag::Device::cpu());
    if (gt.dtype() != d) gt = ag::cast(gt, d);
    std::memcpy(dst, gt.impl()->storage->data, bytes);
  }
  event(Event::start, static_cast<int>(&b - buckets_.data()));
  b.work = ag::dist::all_reduce_async(b.flat, ag::dist::ReduceOp::avg);
  b.started = true;
}

void DataParallel::finish(Bucket& b) {
  const double t = now_seconds();
  b.work.wait();
  wait_seconds_ += now_seconds() - t;
  event(Event::done, static_cast<int>(&b - buckets_.data()));
  ag::NoGradGuard off;
  const ag::DType d = b.flat.dtype();
  const std::byte* flat = static_cast<const std::byte*>(b.flat.impl()->storage->data);
  const size_t es = ag::dtype_size(d);
  for (size_t j = 0; j < b.params.size(); ++j) {
    ag::Tensor p = params_[b.params[j]].second;
    const std::byte* src = flat + static_cast<size_t>(b.offset[j]) * es;
    ag::Tensor avg = ag::empty(p.shape(), d);
    std::memcpy(avg.impl()->storage->data, src, static_cast<size_t>(p.numel()) * es);
    if (p.dtype() != d) avg = ag::cast(avg, p.dtype());
    if (!p.device().is_cpu()) avg = avg.to(p.device());
    if (p.impl()->grad && !p.impl()->grad->requires_grad) ag::Tensor(p.impl()->grad).copy_(avg);
    else p.set_grad(avg);
  }
}

void DataParallel::reset_pass() {
  for (Bucket& b : buckets_) {
    b.ready = 0;
    b.started = false;
  }
  std::fill(marked_.begin(), marked_.end(), 0);
  std::fill(received_.begin(), received_.end(), 0);
  next_start_ = 0;
  touched_ = false;
}

void DataParallel::backward_done(bool ok) {
  if (!sync_ || !touched_) return;
  struct Reset {
    DataParallel* dp;
    ~Reset() { dp->reset_pass(); }
  } reset{this};
  if (!ok) {  // the pass threw: finish what started, so the ranks stay in step, and leave the gradients alone
    for (size_t k = 0; k < next_start_; ++k) buckets_[k].work.wait();
    return;
  }
  std::string unused;
  for (size_t p = 0; p < params_.size(); ++p) {
    if (marked_[p] && received_[p]) continue;
    if (!opts_.find_unused_parameters) {
      if (unused.empty()) unused = params_[p].first;
      continue;
    }
    mark(p, false);
  }
  if (!unused.empty()) {
    for (size_t k = 0; k < next_start_; ++k) buckets_[k].work.wait();
    ag::fail("DataParallel",
             "rank {}: parameter '{}' got no gradient in this backward pass, so its bucket cannot be averaged. Pass "
             "DataParallelOptions{{.find_unused_parameters = true}} if some parameters are unused on purpose",
             ag::dist::rank(), unused);
  }
  start_ready_buckets();
  for (Bucket& b : buckets_) finish(b);
}

DistributedSampler DistributedSampler::world(bool drop_last) {
  ag::dist::init();
  return {ag::dist::world_size(), ag::dist::rank(), drop_last};
}

std::vector<int64_t> DistributedSampler::shard(const std::vector<int64_t>& order) const {
  if (num_replicas < 1 || rank < 0 || rank >= num_replicas)
    ag::fail("DistributedSampler", "rank {} of {} replicas: needs 0 <= rank < num_replicas", rank, num_replicas);
  const auto w = static_cast<size_t>(num_replicas);
  const size_t n = order.size();
  const size_t total = drop_last ? n / w * w : (n + w - 1) / w * w;
  std::vector<int64_t> out;
  if (n == 0) return out;
  out.reserve(total / w);
  for (size_t i = static_cast<size_t>(rank); i < total; i += w) out.push_back(order[i % n]);
  return out;
}

}  // namespace nn
