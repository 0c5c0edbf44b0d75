// The seed corpora of the fuzz targets (targets.hpp), generated.
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "autograd/ops.hpp"
#include "nn/nn.hpp"
#include "targets.hpp"

namespace fuzz {

namespace fs = std::filesystem;

namespace {

std::string bytes_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Writes with the library's own writers into a scratch file and returns the bytes.
template <class Write>
std::string written(Write&& write) {
  const fs::path path = fs::temp_directory_path() / ("tapegrad-seed-" + std::to_string(::getpid()));
  write(path.string());
  std::string b = bytes_of(path.string());
  fs::remove(path);
  return b;
}

// A safetensors file: the 8-byte little-endian header length, the header (padded to 8 bytes), the data.
std::string safetensors_file(std::string header, const std::string& data = {}, bool pad = true) {
  while (pad && header.size() % 8 != 0) header += ' ';
  std::string len(8, '\0');
  for (size_t i = 0; i < 8; ++i) len[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return len + header + data;
}

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string gzip(const std::string& plain) {
  return written([&](const std::string& path) {
    std::vector<uint8_t> bytes(plain.begin(), plain.end());
    // write_idx_labels adds a header; write the raw bytes through zlib instead
    gzFile f = gzopen(path.c_str(), "wb9");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
  });
}

std::vector<Seed> safetensors_seeds() {
  ag::Generator gen(3);
  nn::Linear linear(3, 2, gen);
  nn::Adam adam(linear.parameters());
  ag::sum(linear.forward(ag::randn({4, 3}, gen))).backward();
  adam.step();
  const std::string checkpoint = written([&](const std::string& p) { nn::save_checkpoint(p, linear, &adam, {{"epoch", "1"}}); });
  const std::string params = written([&](const std::string& p) { nn::save_checkpoint(p, linear); });
  nn::SafeTensors st;
  st.tensors = {{"f", ag::randn({2, 2}, gen)}, {"d", ag::randn({3}, gen, ag::DType::float64)},
                {"i", ag::arange(0, 4, 1, ag::DType::int64)}, {"s", ag::scalar(1.5)}};
  st.metadata["note"] = "seed";
  const std::string dtypes = written([&](const std::string& p) { nn::save_safetensors(p, st); });
  const std::string half(8, '\x3c');
  return {
      {"checkpoint", checkpoint},
      {"checkpoint_parameters_only", params},
      {"dtypes_and_metadata", dtypes},
      {"half_precision", safetensors_file(R"({"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
                                          R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]}})", half)},
      {"empty", safetensors_file("{}")},
      // the reproducers of the loader issue
      {"shape_2_62", safetensors_file(R"({"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})")},
      {"shape_product_overflows", safetensors_file(R"({"a":{"dtype":"F64","shape":[65536,65536,65536,65536],"data_offsets":[0,0]}})")},
      {"shape_negative", safetensors_file(R"({"a":{"dtype":"F32","shape":[-1,-4],"data_offsets":[0,16]}})", std::string(16, '\0'))},
      {"header_length_2_63", std::string("\0\0\0\0\0\0\0\x80{}      ", 16)},
      {"header_past_the_end", std::string("\x40\0\0\0\0\0\0\0{}", 10)},
      {"truncated", checkpoint.substr(0, checkpoint.size() - 5)},
      {"trailing_bytes", checkpoint + "xyz"},
      {"not_json", safetensors_file(R"({"a":{"dtype":)")},
      {"not_an_object", safetensors_file("[1,2]")},
      {"duplicate_names", safetensors_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                           R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", std::string(8, '\0'))},
      {"overlapping", safetensors_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                       R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", std::string(8, '\0'))},
      {"gap", safetensors_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", std::string(8, '\0'))},
      {"offsets_reversed", safetensors_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", std::string(8, '\0'))},
      {"three_offsets", safetensors_file(R"({"a":{"dtype":"I64","shape":[],"data_offsets":[0,8,8]}})", std::string(8, '\0'))},
      {"unknown_dtype", safetensors_file(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", std::string(4, '\0'))},
      {"metadata_not_string", safetensors_file(R"({"__metadata__":{"epoch":3}})")},
      {"nested_deeply", safetensors_file(std::string(200, '[') + std::string(200, ']'))},
      {"wrong_model_shape", safetensors_file(R"({"model.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
                                             R"("model.bias":{"dtype":"F32","shape":[3],"data_offsets":[24,36]}})",
                                             std::string(36, '\0'))},
  };
}

std::vector<Seed> idx_plain_seeds() {
  nn::IdxImages im{3, 4, 5, {}};
  for (int i = 0; i < 60; ++i) im.pixels.push_back(static_cast<uint8_t>(i * 4));
  const std::vector<uint8_t> labels = {1, 2, 9};
  const std::string images = written([&](const std::string& p) { nn::write_idx_images(p, im); });
  const std::string label_file = written([&](const std::string& p) { nn::write_idx_labels(p, labels); });
  return {
      {"images", images},
      {"labels", label_file},
      {"images_truncated", images.substr(0, images.size() - 7)},
      {"labels_trailing", label_file + "\x01\x02"},
      {"header_only", images.substr(0, 16)},
      {"short_header", images.substr(0, 6)},
      // a header promising 2^32 - 1 images of 65536 x 65536 pixels (the bomb of the loader issue)
      {"absurd_size", be32(2051) + be32(0xffffffffu) + be32(65536) + be32(65536) + std::string(64, '\0')},
      {"absurd_labels", be32(2049) + be32(0xffffffffu) + std::string(64, '\x07')},
      {"zero_size", be32(2051) + be32(2) + be32(0) + be32(28)},
      {"zero_count", be32(2051) + be32(0) + be32(28) + be32(28)},
      {"unknown_magic", be32(2052) + be32(1) + be32(1) + be32(1) + "\x05"},
  };
}

std::vector<Seed> idx_seeds() {
  std::vector<Seed> out = idx_plain_seeds();
  const std::string images = out[0].bytes, labels = out[1].bytes;
  const std::string images_gz = gzip(images), labels_gz = gzip(labels);
  for (const Seed& s : std::vector<Seed>(out)) out.push_back({s.name + ".gz", gzip(s.bytes)});
  out.push_back({"gz_truncated", images_gz.substr(0, images_gz.size() - 9)});
  out.push_back({"gz_two_members", gzip(labels.substr(0, 9)) + gzip(labels.substr(9))});
  out.push_back({"gz_trailing_garbage", labels_gz + "garbage"});
  out.push_back({"gz_inside_gz", gzip(labels_gz)});
  std::string corrupt = images_gz;
  corrupt[corrupt.size() / 2] ^= 0x55;
  out.push_back({"gz_corrupt", corrupt});
  // 1 MiB of zeros behind a header promising 8 labels: inflates far past the header's size
  out.push_back({"gz_bomb", gzip(be32(2049) + be32(8) + std::string(1 << 20, '\0'))});
  return out;
}

// CSV inputs: the first byte picks the options (targets.cpp, csv_options).
std::vector<Seed> csv_seeds() {
  const char ints = 1, skip = 2, f64 = 4, semicolon = 8, tab = 16, named = 32;
  auto seed = (+[](const char* name, char opts, std::string text) { return Seed{name, std::string(1, opts) + text}; });
  return {
      seed("simple", ints, "a,b,y\n1,2,0\n3.5,-4e3,1\n"),
      seed("named_features", ints | named, "c,b,y,a\n1,2,0,3\n4,5,1,6\n"),
      seed("regression_float64", f64, "a,b,y\n1,2,0.5\n3,4,-1e300\n"),
      seed("quotes_crlf_blank", ints, "\"a\",\"b\",y\r\n\"1\",\" 2 \",3\r\n\r\n4,\"5\"\"\",6\r\n"),
      seed("bom", ints, "\xEF\xBB\xBF" "a,b,y\n1,2,3\n"),
      seed("semicolon", ints | semicolon, "a;b;y\n1;2;3\n"),
      seed("tab_skip", ints | skip | tab, "a\tb\ty\n1\tx\t3\n1\t2\t3\n"),
      seed("space", semicolon | tab, "a b y\n1 2 3\n"),
      seed("duplicate_column", ints, "a,a,y\n1,2,3\n"),
      seed("no_label", ints, "a,b,c\n1,2,3\n"),
      seed("beyond_float32", 0, "a,b,y\n1e39,2,3\n"),
      seed("label_not_integer", ints, "a,b,y\n1,2,3.5\n1,2,-1\n1,2,1e16\n"),
      seed("unclosed_quote", ints | skip, "a,b,y\n\"1,2,3\n4,5,6\n"),
      seed("wrong_columns", ints | skip, "a,b,y\n1,2\n1,2,3,4\n"),
      seed("nan_inf", skip, "a,b,y\nnan,inf,1\n1,2,3\n"),
      seed("empty", ints, ""),
      seed("header_only", ints, "a,b,y\n"),
  };
}

}  // namespace

std::vector<Seed> seeds(const std::string& target) {
  if (target == "safetensors") return safetensors_seeds();
  if (target == "idx") return idx_seeds();
  if (target == "idx_gz") return idx_plain_seeds();
  if (target == "csv") return csv_seeds();
  return {};
}

}  // namespace fuzz
