// Checkpoints in the safetensors format (readable by PyTorch's safetensors
// package): an 8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and byte range, then the raw row-major data. Files are
// written atomically (a temporary file unique to the writer, fsync, rename:
// Note [Atomic writes]; when several writers save to one path, the file is the
// last one's complete output), and reading checks the
// header, the byte ranges and the file size, so a truncated or corrupted file
// is a clear error rather than garbage weights.
#pragma once

#include "../autograd/config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <map>
#include <string>

#include "module.hpp"
#include "optim.hpp"

namespace nn {

// Tensors and string metadata as a safetensors file.
struct SafeTensors {
  NamedTensors tensors;  // in file order
  std::map<std::string, std::string> metadata;
  // The tensor called `name`, or an error naming the file's tensors.
  const Tensor& at(const std::string& name) const;
};

// Writes `st` to `path` atomically. Tensors on a device are copied through the
// host (in their own dtype); loading gives cpu tensors, and load_checkpoint
// copies them into the model's and optimiser's tensors wherever those live.
void save_safetensors(const std::string& path, const SafeTensors& st);
// Reads and validates a safetensors file (F32, F64 and I64 tensors).
SafeTensors load_safetensors(const std::string& path);

// A training checkpoint: the module's parameters ("model.<name>"), buffers
// ("buffer.<name>"), the optimiser's state ("optim.<name>"), the modules' extra
// state such as Dropout's generator (metadata "state.<name>") and free-form
// metadata (epoch, seeds, ...). The model and optimiser may live on any device.
void save_checkpoint(const std::string& path, const Module& model, const Optimizer* optimizer = nullptr,
                     const std::map<std::string, std::string>& metadata = {});
// Restores what save_checkpoint wrote; names and shapes must match the model.
// Returns the metadata.
std::map<std::string, std::string> load_checkpoint(const std::string& path, Module& model,
                                                   Optimizer* optimizer = nullptr);
// The same from a file already read (`path` names it in errors).
std::map<std::string, std::string> load_checkpoint(const SafeTensors& st, Module& model, Optimizer* optimizer,
                                                   const std::string& path);

}  // namespace nn

#endif  // TAPEGRAD_CXX20
