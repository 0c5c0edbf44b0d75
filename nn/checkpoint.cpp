#include "nn/checkpoint.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <fstream>

namespace nn {

namespace json = boost::json;

namespace {

std::string_view st_dtype(ag::DType t) {
  switch (t) {
    case ag::DType::float32: return "F32";
    case ag::DType::float64: return "F64";
    case ag::DType::int64: return "I64";
    case ag::DType::float16: return "F16";
    case ag::DType::bfloat16: return "BF16";
  }
  return "?";
}

ag::DType parse_dtype(const std::string& path, const std::string& name, std::string_view s) {
  if (s == "F32") return ag::DType::float32;
  if (s == "F64") return ag::DType::float64;
  if (s == "I64") return ag::DType::int64;
  if (s == "F16") return ag::DType::float16;
  if (s == "BF16") return ag::DType::bfloat16;
  ag::fail("safetensors", "{}: tensor '{}' has dtype {}, which tapegrad does not read (F32, F64, I64, F16, BF16)", path, name, s);
}

// Writes all bytes or throws, naming the file.
void write_all(int fd, const char* p, size_t n, const std::string& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) ag::fail("safetensors", "writing {} failed: {}", path, std::strerror(errno));
    p += w;
    n -= static_cast<size_t>(w);
  }
}

}  // namespace

const Tensor& SafeTensors::at(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  std::string names;
  for (const auto& [n, t] : tensors) names += (names.empty() ? "" : ", ") + n;
  ag::fail("safetensors", "no tensor '{}' (the file has: {})", name, names);
}

void save_safetensors(const std::string& path, const SafeTensors& st) {
  json::object header;
  if (!st.metadata.empty()) {
    json::object meta;
    for (const auto& [k, v] : st.metadata) meta[k] = v;
    header["__metadata__"] = std::move(meta);
  }
  size_t offset = 0;
  for (const auto& [name, t] : st.tensors) {
    if (name == "__metadata__") ag::fail("safetensors", "'__metadata__' cannot name a tensor");
    if (!t.device().is_cpu()) ag::fail("safetensors", "tensor '{}' is on {}; move it to the cpu first", name, t.device());
    json::array shape;
    for (int64_t d : t.shape()) shape.push_back(d);
    const size_t bytes = static_cast<size_t>(t.numel()) * ag::dtype_size(t.dtype());
    header[name] = json::object{{"dtype", st_dtype(t.dtype())},
                                {"shape", std::move(shape)},
                                {"data_offsets", json::array{offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = json::serialize(header);
  while (text.size() % 8 != 0) text += ' ';  // the format pads the header to 8 bytes
  const uint64_t n = text.size();
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));

  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) ag::fail("safetensors", "cannot create {}: {}", tmp, std::strerror(errno));
  try {
    write_all(fd, reinterpret_cast<const char*>(len), 8, tmp);
    write_all(fd, text.data(), text.size(), tmp);
    for (const auto& [name, t] : st.tensors)
      write_all(fd, static_cast<const char*>(t.impl()->storage->data),
                static_cast<size_t>(t.numel()) * ag::dtype_size(t.dtype()), tmp);
    if (::fsync(fd) != 0) ag::fail("safetensors", "fsync of {} failed: {}", tmp, std::strerror(errno));
  } catch (...) {
    ::close(fd);
    std::remove(tmp.c_str());
    throw;
  }
  ::close(fd);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    ag::fail("safetensors", "cannot rename {} to {}: {}", tmp, path, std::strerror(errno));
  }
}

SafeTensors load_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) ag::fail("safetensors", "cannot open {}", path);
  const auto file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  if (file_size < 8) ag::fail("safetensors", "{} is truncated: {} bytes, shorter than the 8-byte header length", path, file_size);
  unsigned char len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(len[i]) << (8 * i);
  if (n > file_size - 8)
    ag::fail("safetensors", "{} is truncated or corrupted: the header claims {} bytes, the file has {} after the length",
             path, n, file_size - 8);
  std::string text(static_cast<size_t>(n), '\0');
  in.read(text.data(), static_cast<std::streamsize>(n));
  json::value header;
  try {
    header = json::parse(text);
  } catch (const std::exception& e) {
    ag::fail("safetensors", "{}: the header is not valid JSON ({})", path, e.what());
  }
  if (!header.is_object()) ag::fail("safetensors", "{}: the header is not a JSON object", path);
  const uint64_t data_size = file_size - 8 - n;

  SafeTensors st;
  struct Entry {
    std::string name;
    ag::DType dtype;
    ag::Shape shape;
    uint64_t begin, end;
  };
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.as_object()) {
    const std::string name(key);
    if (name == "__metadata__") {
      if (!value.is_object()) ag::fail("safetensors", "{}: __metadata__ is not an object", path);
      for (const auto& [mk, mv] : value.as_object()) {
        if (!mv.is_string()) ag::fail("safetensors", "{}: metadata '{}' is not a string", path, std::string(mk));
        st.metadata[std::string(mk)] = std::string(mv.as_string());
      }
      continue;
    }
    try {
      const json::object& o = value.as_object();
      Entry e{name, parse_dtype(path, name, o.at("dtype").as_string()), {}, 0, 0};
      for (const auto& d : o.at("shape").as_array()) e.shape.push_back(d.to_number<int64_t>());
      const json::array& off = o.at("data_offsets").as_array();
      if (off.size() != 2) ag::fail("safetensors", "{}: tensor '{}' needs two data_offsets", path, name);
      e.begin = off[0].to_number<uint64_t>();
      e.end = off[1].to_number<uint64_t>();
      entries.push_back(std::move(e));
    } catch (const ag::Error&) {
      throw;
    } catch (const std::exception& ex) {
      ag::fail("safetensors", "{}: the entry of tensor '{}' is malformed ({})", path, name, ex.what());
    }
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  for (const Entry& e : entries) {
    for (int64_t d : e.shape)
      if (d < 0) ag::fail("safetensors", "{}: tensor '{}' has a negative size in shape {}", path, e.name, e.shape);
    const uint64_t want = static_cast<uint64_t>(ag::shape_numel(e.shape)) * ag::dtype_size(e.dtype);
    if (e.end < e.begin || e.end - e.begin != want)
      ag::fail("safetensors", "{}: tensor '{}' of shape {} {} needs {} bytes, its offsets [{}, {}) span {}", path,
               e.name, e.shape, e.dtype, want, e.begin, e.end, e.end - e.begin);
    if (e.end > data_size)
      ag::fail("safetensors", "{} is truncated: tensor '{}' ends at byte {} of the data, which has {}", path, e.name,
               e.end, data_size);
    ag::Tensor t = ag::empty(e.shape, e.dtype);
    in.seekg(static_cast<std::streamoff>(8 + n + e.begin));
    in.read(static_cast<char*>(t.impl()->storage->data), static_cast<std::streamsize>(want));
    if (!in) ag::fail("safetensors", "{}: reading tensor '{}' failed", path, e.name);
    st.tensors.emplace_back(e.name, t);
  }
  return st;
}

void save_checkpoint(const std::string& path, const Module& model, const Optimizer* optimizer,
                     const std::map<std::string, std::string>& metadata) {
  SafeTensors st;
  st.metadata = metadata;
  st.metadata["format"] = "tapegrad checkpoint 1";
  for (const auto& [n, t] : model.named_parameters()) st.tensors.emplace_back("model." + n, t.detach());
  if (optimizer)
    for (const auto& [n, t] : optimizer->state()) st.tensors.emplace_back("optim." + n, t);
  save_safetensors(path, st);
}

std::map<std::string, std::string> load_checkpoint(const std::string& path, Module& model, Optimizer* optimizer) {
  SafeTensors st = load_safetensors(path);
  NamedTensors params, state;
  for (const auto& [n, t] : st.tensors) {
    if (n.rfind("model.", 0) == 0) params.emplace_back(n.substr(6), t);
    else if (n.rfind("optim.", 0) == 0) state.emplace_back(n.substr(6), t);
  }
  // load_parameters matches in order; the file keeps the model's order
  NamedTensors mine = model.named_parameters();
  NamedTensors ordered;
  for (const auto& [n, t] : mine) {
    auto it = std::find_if(params.begin(), params.end(), [&](const auto& p) { return p.first == n; });
    if (it == params.end()) ag::fail("load_checkpoint", "{} has no parameter '{}' for {}", path, n, model.name());
    ordered.push_back(*it);
  }
  if (params.size() != mine.size())
    ag::fail("load_checkpoint", "{} holds {} parameters, {} has {}", path, params.size(), model.name(), mine.size());
  model.load_parameters(ordered);
  if (optimizer) {
    if (state.empty()) ag::fail("load_checkpoint", "{} holds no optimiser state", path);
    optimizer->load_state(state);
  }
  return st.metadata;
}

}  // namespace nn
