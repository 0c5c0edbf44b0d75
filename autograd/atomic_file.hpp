// Atomic file writes shared by checkpoints, dumps and reports.
#pragma once

#include "config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <cstddef>
#include <string>
#include <string_view>

namespace ag {

// Note [Atomic writes]: a writer gets its own temporary file in the
// destination's folder (mkstemp: a unique name, created with O_EXCL), writes
// it, fsyncs it and renames it over the destination. Writers, in threads or
// processes, never share a temporary, so the destination is always one
// writer's complete output: the last rename wins (last writer wins), and a
// reader sees the old file or a new one, never a mix or half a file.
class AtomicFile {
 public:
  // Creates the temporary next to `path`; `op` names the caller in errors.
  AtomicFile(std::string path, std::string_view op);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  // Removes the temporary if commit() was not reached (an error on the way).
  ~AtomicFile();
  // Appends n bytes, or throws naming the file.
  void write(const void* data, size_t n);
  // fsync, close and rename over the destination.
  void commit();
  const std::string& temp_path() const { return tmp_; }

 private:
  std::string path_, tmp_, op_;
  int fd_ = -1;
};

// Writes `text` to `path` atomically (Note [Atomic writes]); `op` names the caller in errors.
void write_file_atomic(const std::string& path, std::string_view text, std::string_view op);

}  // namespace ag

#endif  // TAPEGRAD_CXX20
