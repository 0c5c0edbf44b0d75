#include "nn/checkpoint.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>

#include "autograd/atomic_file.hpp"
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
    if (header.contains(name)) ag::fail("safetensors", "two tensors are named '{}'; names must be unique", name);
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

  ag::AtomicFile out(path, "safetensors");  // Note [Atomic writes]
  out.write(len, 8);
  out.write(text.data(), text.size());
  for (const auto& [name, t] : st.tensors) {
    // a device tensor is copied through the host, one at a time, in its own dtype
    const Tensor host = t.device().is_cpu() ? t : t.to(ag::Device::cpu());
    const std::span<const std::byte> raw = host.bytes();
    out.write(raw.data(), raw.size());
  }
  out.commit();
}

namespace {

// The safetensors reference limits the header to 100 MB.
constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;

// Keys of every JSON object in `text`, counted on the raw text (a parsed
// object keeps only the last of duplicate keys); `top` gets the raw keys of
// the outermost object.
size_t count_json_keys(std::string_view text, std::vector<std::string_view>& top) {
  size_t keys = 0;
  std::vector<char> stack;  // '{' or '['
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '{' || c == '[') stack.push_back(c);
    else if ((c == '}' || c == ']') && !stack.empty()) stack.pop_back();
    else if (c == '"') {
      const size_t begin = ++i;
      while (i < text.size() && text[i] != '"') i += text[i] == '\\' ? 2 : 1;
      const size_t end = std::min(i, text.size());
      size_t j = i + 1;
      while (j < text.size() && (text[j] == ' ' || text[j] == '\t' || text[j] == '\n' || text[j] == '\r')) ++j;
      if (!stack.empty() && stack.back() == '{' && j < text.size() && text[j] == ':') {
        ++keys;
        if (stack.size() == 1) top.push_back(text.substr(begin, end - begin));
      }
    }
  }
  return keys;
}

size_t count_parsed_keys(const json::value& v) {
  size_t n = 0;
  if (v.is_object())
    for (const auto& [k, x] : v.as_object()) n += 1 + count_parsed_keys(x);
  else if (v.is_array())
    for (const auto& x : v.as_array()) n += count_parsed_keys(x);
  return n;
}

void check_unique_keys(const std::string& path, std::string_view text, const json::value& header) {
  std::vector<std::string_view> top;
  if (count_json_keys(text, top) == count_parsed_keys(header)) return;
  std::sort(top.begin(), top.end());
  auto dup = std::adjacent_find(top.begin(), top.end());
  if (dup != top.end())
    ag::fail("safetensors", "{}: the header names '{}' twice; each tensor name must be unique (rewrite the file)", path,
             *dup);
  ag::fail("safetensors", "{}: the header has a duplicate key; each key of a JSON object must be unique (rewrite the file)",
           path);
}

}  // namespace

SafeTensors load_safetensors(const std::string& path) {
  struct stat info{};
  if (::stat(path.c_str(), &info) != 0) ag::fail("safetensors", "cannot open {}: {}", path, std::strerror(errno));
  if (S_ISDIR(info.st_mode)) ag::fail("safetensors", "cannot read {}: it is a directory, not a safetensors file", path);
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) ag::fail("safetensors", "cannot open {}: {}", path, std::strerror(errno));
  const auto file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  if (!in) ag::fail("safetensors", "cannot read {}: it is not a regular file", path);
  if (file_size < 8) ag::fail("safetensors", "{} is truncated: {} bytes, shorter than the 8-byte header length", path, file_size);
  unsigned char len[8];
  if (!in.read(reinterpret_cast<char*>(len), 8)) ag::fail("safetensors", "reading {} failed", path);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(len[i]) << (8 * i);
  if (n > kMaxHeaderBytes)
    ag::fail("safetensors", "{}: the header claims {} bytes, above the format's limit of {}; the file is corrupted",
             path, n, kMaxHeaderBytes);
  if (n > file_size - 8)
    ag::fail("safetensors", "{} is truncated or corrupted: the header claims {} bytes, the file has {} after the length",
             path, n, file_size - 8);
  std::string text(static_cast<size_t>(n), '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(n))) ag::fail("safetensors", "reading the header of {} failed", path);
  json::value header;
  try {
    header = json::parse(text);
  } catch (const std::exception& e) {
    ag::fail("safetensors", "{}: the header is not valid JSON ({})", path, e.what());
  }
  if (!header.is_object()) ag::fail("safetensors", "{}: the header is not a JSON object", path);
  check_unique_keys(path, text, header);
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
  // The format's rules: the tensors' byte ranges tile the data exactly, from 0,
  // in order, without gaps or overlaps.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expect = 0;
  std::string previous;
  for (const Entry& e : entries) {
    uint64_t want = 0;
    try {
      want = ag::checked_bytes(e.shape, e.dtype, "safetensors");  // Note [Checked sizes]
    } catch (const ag::Error& ex) {
      ag::fail("safetensors", "{}: tensor '{}': {}", path, e.name, std::string_view(ex.what()).substr(14));
    }
    if (e.end < e.begin || e.end - e.begin != want)
      ag::fail("safetensors", "{}: tensor '{}' of shape {} {} needs {} bytes, its offsets [{}, {}) span {}", path,
               e.name, e.shape, e.dtype, want, e.begin, e.end, e.end - e.begin);
    if (e.begin != expect) {
      if (e.begin < expect)
        ag::fail("safetensors", "{}: tensor '{}' at bytes [{}, {}) overlaps tensor '{}', which ends at {}; each byte "
                 "of the data belongs to one tensor", path, e.name, e.begin, e.end, previous, expect);
      ag::fail("safetensors", "{}: tensor '{}' starts at byte {}, but {}; the data must have no gaps", path, e.name,
               e.begin, previous.empty() ? std::string("the data starts at 0")
                                         : fmt::format("tensor '{}' ends at {}", previous, expect));
    }
    if (e.end > data_size)
      ag::fail("safetensors", "{} is truncated: tensor '{}' ends at byte {} of the data, which has {}", path, e.name,
               e.end, data_size);
    expect = e.end;
    previous = e.name;
  }
  if (expect != data_size)
    ag::fail("safetensors", "{}: the tensors cover {} bytes of data, but the file has {} after the header; the file is "
             "corrupted or has trailing bytes", path, expect, data_size);
  for (const Entry& e : entries) {
    ag::Tensor t = ag::empty(e.shape, e.dtype);
    in.seekg(static_cast<std::streamoff>(8 + n + e.begin));
    const std::span<std::byte> raw = t.bytes();  // e.end - e.begin bytes, checked above
    in.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(raw.size()));
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
  for (const auto& [n, t] : model.named_buffers()) st.tensors.emplace_back("buffer." + n, t.detach());
  if (optimizer)
    for (const auto& [n, t] : optimizer->state()) st.tensors.emplace_back("optim." + n, t);
  for (const auto& [k, v] : model.named_extra_state()) st.metadata["state." + k] = v;
  save_safetensors(path, st);
}

std::map<std::string, std::string> load_checkpoint(const std::string& path, Module& model, Optimizer* optimizer) {
  return load_checkpoint(load_safetensors(path), model, optimizer, path);
}

std::map<std::string, std::string> load_checkpoint(const SafeTensors& st, Module& model, Optimizer* optimizer,
                                                   const std::string& path) {
  NamedTensors params, state, buffers;
  for (const auto& [n, t] : st.tensors) {
    if (n.rfind("model.", 0) == 0) params.emplace_back(n.substr(6), t);
    else if (n.rfind("buffer.", 0) == 0) buffers.emplace_back(n.substr(7), t);
    else if (n.rfind("optim.", 0) == 0) state.emplace_back(n.substr(6), t);
  }
  // load_parameters matches in order; the file keeps the model's order
  NamedTensors mine = model.named_parameters();
  NamedTensors ordered;
  for (const auto& [n, t] : mine) {
    auto it = std::find_if(params.begin(), params.end(), [&n = n](const auto& p) { return p.first == n; });
    if (it == params.end()) ag::fail("load_checkpoint", "{} has no parameter '{}' for {}", path, n, model.name());
    ordered.push_back(*it);
  }
  if (params.size() != mine.size())
    ag::fail("load_checkpoint", "{} holds {} parameters, {} has {}", path, params.size(), model.name(), mine.size());
  // buffers likewise ("buffer.<name>"; a file from before buffers has none, which fits a model without any)
  NamedTensors my_buffers = model.named_buffers(), ordered_buffers;
  for (const auto& [n, t] : my_buffers) {
    auto it = std::find_if(buffers.begin(), buffers.end(), [&n = n](const auto& b) { return b.first == n; });
    if (it == buffers.end()) ag::fail("load_checkpoint", "{} has no buffer '{}' for {}", path, n, model.name());
    ordered_buffers.push_back(*it);
  }
  if (buffers.size() != my_buffers.size())
    ag::fail("load_checkpoint", "{} holds {} buffers, {} has {}", path, buffers.size(), model.name(),
             my_buffers.size());
  std::map<std::string, std::string> extra;
  for (const auto& [k, v] : st.metadata)
    if (k.rfind("state.", 0) == 0) extra.emplace(k.substr(6), v);
  model.load_parameters(ordered);
  model.load_buffers(ordered_buffers);
  model.load_extra_state(extra);
  if (optimizer) {
    if (state.empty()) ag::fail("load_checkpoint", "{} holds no optimiser state", path);
    optimizer->load_state(state);
  }
  return st.metadata;
}

}  // namespace nn
