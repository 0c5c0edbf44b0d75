#include "autograd/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "autograd/error.hpp"

namespace ag {

namespace {
// The process's umask, read without changing it (umask(2) would, for a moment,
// for every thread); 022 where /proc does not say.
mode_t process_umask() {
  static const mode_t mask = [] {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
      if (line.rfind("Umask:", 0) == 0) return static_cast<mode_t>(std::stoul(line.substr(6), nullptr, 8));
    return static_cast<mode_t>(022);
  }();
  return mask;
}
}  // namespace

AtomicFile::AtomicFile(std::string path, std::string_view op) : path_(std::move(path)), op_(op) {
  tmp_ = path_ + ".tmp.XXXXXX";
  fd_ = ::mkstemp(tmp_.data());
  if (fd_ < 0) fail(op_, "cannot create a temporary file next to {}: {}", path_, std::strerror(errno));
  // mkstemp makes the file private (0600); give it the mode a plain create would
  ::fchmod(fd_, 0644 & ~process_umask());
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!tmp_.empty()) std::remove(tmp_.c_str());
}

void AtomicFile::write(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd_, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail(op_, "writing {} failed: {}", path_, std::strerror(errno));
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void AtomicFile::commit() {
  if (::fsync(fd_) != 0) fail(op_, "writing {} failed: fsync: {}", path_, std::strerror(errno));
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) fail(op_, "writing {} failed: close: {}", path_, std::strerror(errno));
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
    fail(op_, "cannot rename {} to {}: {}", tmp_, path_, std::strerror(errno));
  tmp_.clear();
}

void write_file_atomic(const std::string& path, std::string_view text, std::string_view op) {
  AtomicFile f(path, op);
  f.write(text.data(), text.size());
  f.commit();
}

}  // namespace ag
