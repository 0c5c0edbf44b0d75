// safetensors checkpoints: round trips, the file format, corruption, resuming.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "helpers.hpp"
#include "nn/nn.hpp"

using namespace ag;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() : path(fs::temp_directory_path() / fs::path("tapegrad_ckpt_" + std::to_string(::getpid()))) {
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// A safetensors file from a header and data bytes (the header padded to 8 bytes).
std::string safetensors_bytes(std::string header, const std::string& data) {
  while (header.size() % 8 != 0) header += ' ';
  std::string len(8, '\0');
  for (size_t i = 0; i < 8; ++i) len[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return len + header + data;
}

}  // namespace

TEST_SUITE("nn") {

TEST_CASE("safetensors: tensors and metadata round-trip exactly") {
  TempDir dir;
  nn::SafeTensors st;
  Generator gen(1);
  st.tensors = {{"w", randn({3, 4}, gen)}, {"d", randn({2}, gen, DType::float64)}, {"i", arange(0, 5, 1, DType::int64)},
                {"s", scalar(2.5)}};
  st.metadata["epoch"] = "7";
  nn::save_safetensors(dir.file("a.safetensors"), st);
  CHECK_FALSE(fs::exists(dir.file("a.safetensors.tmp")));
  nn::SafeTensors back = nn::load_safetensors(dir.file("a.safetensors"));
  REQUIRE(back.tensors.size() == 4);
  CHECK(back.at("w").to_vector<float>() == st.at("w").to_vector<float>());
  CHECK(back.at("d").to_vector<double>() == st.at("d").to_vector<double>());
  CHECK(back.at("i").to_vector<int64_t>() == st.at("i").to_vector<int64_t>());
  CHECK(back.at("s").shape() == Shape{});
  CHECK(back.metadata.at("epoch") == "7");
  CHECK(error_of([&] { back.at("nope"); }).find("no tensor 'nope'") != std::string::npos);
}

TEST_CASE("safetensors: the layout other readers expect") {
  TempDir dir;
  nn::SafeTensors st;
  st.tensors = {{"x", tensor({1, 2, 3})}};
  nn::save_safetensors(dir.file("x.safetensors"), st);
  std::string bytes = read_bytes(dir.file("x.safetensors"));
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[static_cast<size_t>(i)])) << (8 * i);
  CHECK(n % 8 == 0);
  CHECK(bytes.size() == 8 + n + 12);
  std::string header = bytes.substr(8, n);
  CHECK(header.find(R"("x":{"dtype":"F32","shape":[3],"data_offsets":[0,12]})") != std::string::npos);
  float first;
  std::memcpy(&first, bytes.data() + 8 + n, 4);
  CHECK(first == 1.0f);
}

TEST_CASE("safetensors: truncated and corrupted files are clear errors") {
  TempDir dir;
  nn::SafeTensors st;
  st.tensors = {{"x", ones({100})}};
  const std::string path = dir.file("c.safetensors");
  nn::save_safetensors(path, st);
  std::string good = read_bytes(path);
  write_bytes(path, good.substr(0, good.size() - 10));
  CHECK(error_of([&] { nn::load_safetensors(path); }).find("truncated") != std::string::npos);
  write_bytes(path, good.substr(0, 5));
  CHECK(error_of([&] { nn::load_safetensors(path); }).find("truncated") != std::string::npos);
  std::string bad = good;
  bad[8] = '#';  // the header's opening brace
  write_bytes(path, bad);
  CHECK(error_of([&] { nn::load_safetensors(path); }).find("not valid JSON") != std::string::npos);
  CHECK(error_of([&] { nn::load_safetensors(dir.file("missing")); }).find("cannot open") != std::string::npos);
}

TEST_CASE("checkpoint: a model whose shapes differ is refused") {
  TempDir dir;
  Generator gen(2);
  nn::Linear a(3, 2, gen), b(3, 4, gen);
  nn::save_checkpoint(dir.file("m.safetensors"), a);
  std::string msg = error_of([&] { nn::load_checkpoint(dir.file("m.safetensors"), b); });
  CHECK(msg.find("'weight' has shape (3, 4)") != std::string::npos);
}

TEST_CASE("checkpoint: resuming continues exactly as if uninterrupted") {
  TempDir dir;
  Generator data(3);
  Tensor x = randn({16, 4}, data), t = randint({16}, 0, 3, data);
  auto train = [&](nn::MLP& model, nn::Optimizer& opt, int steps) {
    for (int i = 0; i < steps; ++i) {
      opt.zero_grad();
      softmax_cross_entropy(model(x), t).backward();
      opt.step();
    }
  };
  Generator g1(4);
  nn::MLP straight({4, 8, 3}, g1);
  nn::Adam o1(straight.parameters(), 0.01);
  train(straight, o1, 6);

  Generator g2(4);
  nn::MLP first({4, 8, 3}, g2);
  nn::Adam o2(first.parameters(), 0.01);
  train(first, o2, 3);
  nn::save_checkpoint(dir.file("r.safetensors"), first, &o2, {{"step", "3"}});

  Generator g3(99);  // a different initialisation: everything must come from the file
  nn::MLP resumed({4, 8, 3}, g3);
  nn::Adam o3(resumed.parameters(), 0.01);
  auto meta = nn::load_checkpoint(dir.file("r.safetensors"), resumed, &o3);
  CHECK(meta.at("step") == "3");
  train(resumed, o3, 3);
  auto a = straight.named_parameters(), b = resumed.named_parameters();
  for (size_t k = 0; k < a.size(); ++k) {
    INFO(a[k].first);
    CHECK(a[k].second.to_vector<float>() == b[k].second.to_vector<float>());
  }
}

TEST_CASE("safetensors: sizes that overflow are errors, not tensors over a tiny buffer") {
  TempDir dir;
  const std::string path = dir.file("big.safetensors");
  auto error_for = [&](const std::string& header, const std::string& data = "") {
    write_bytes(path, safetensors_bytes(header, data));
    return error_of([&] { nn::load_safetensors(path); });
  };
  // 2^62 x 4 bytes wrapped to 0 and matched the offsets [0, 0)
  CHECK(error_for(R"({"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})")
            .find("tensor 'a': shape (4611686018427387904,) of float32 needs more than 2^64 bytes") != std::string::npos);
  // 2^64 elements wrapped to 0 in signed arithmetic (undefined behaviour)
  CHECK(error_for(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})")
            .find("more elements than int64 can count") != std::string::npos);
  CHECK(error_for(R"({"a":{"dtype":"F64","shape":[2305843009213693952,8],"data_offsets":[0,0]}})")
            .find("more elements than int64 can count") != std::string::npos);
  CHECK(error_for(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})").find("negative size") !=
        std::string::npos);
}

TEST_CASE("safetensors: a directory or unreadable path is named as such") {
  TempDir dir;
  std::string msg = error_of([&] { nn::load_safetensors(dir.path.string()); });
  CHECK(msg.find("[safetensors] cannot read " + dir.path.string() + ": it is a directory") == 0);
  msg = error_of([&] { nn::load_safetensors(dir.file("missing")); });
  CHECK(msg.find("No such file or directory") != std::string::npos);
}

TEST_CASE("safetensors: offsets must tile the data; keys must be unique; the header length is bounded") {
  TempDir dir;
  const std::string path = dir.file("rules.safetensors");
  const std::string eight(8, '\0');
  auto error_for = [&](const std::string& header, const std::string& data) {
    write_bytes(path, safetensors_bytes(header, data));
    return error_of([&] { nn::load_safetensors(path); });
  };
  // the valid layout loads
  CHECK(error_for(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                  eight) == "");
  // identical offsets: two tensors over the same bytes
  CHECK(error_for(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                  eight.substr(0, 4))
            .find("overlaps tensor 'a'") != std::string::npos);
  // overlapping offsets
  CHECK(error_for(R"({"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                  eight)
            .find("tensor 'b' at bytes [4, 8) overlaps tensor 'a', which ends at 8") != std::string::npos);
  // a gap before the first tensor
  CHECK(error_for(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight)
            .find("tensor 'a' starts at byte 4, but the data starts at 0") != std::string::npos);
  // trailing bytes that no tensor covers
  CHECK(error_for(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", eight)
            .find("the tensors cover 4 bytes of data, but the file has 8") != std::string::npos);
  // duplicate keys: the parser keeps the last, which hid the first tensor
  CHECK(error_for(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                  eight)
            .find("the header names 'a' twice") != std::string::npos);
  CHECK(error_for(R"({"a":{"dtype":"F32","dtype":"F64","shape":[1],"data_offsets":[0,4]}})", eight.substr(0, 4))
            .find("duplicate key") != std::string::npos);
  // a header length beyond the format's 100 MB
  std::string huge(8, '\0');
  huge[4] = 1;  // 2^32 bytes
  write_bytes(path, huge + "{}");
  CHECK(error_of([&] { nn::load_safetensors(path); }).find("above the format's limit") != std::string::npos);
}

TEST_CASE("checkpoint: a corrupted optimiser state is refused") {
  TempDir dir;
  Generator gen(5);
  nn::Linear model(2, 2, gen);
  nn::Adam opt(model.parameters(), 0.01);
  const std::string path = dir.file("o.safetensors");
  for (double step : {double(NAN), 1e300, -5.0, 2.5}) {
    nn::SafeTensors st;
    st.tensors = {{"model.weight", model.weight.detach()}, {"model.bias", model.bias.detach()},
                  {"optim.step", scalar(step, DType::float64)}};
    nn::save_safetensors(path, st);
    INFO(step);
    CHECK(error_of([&] { nn::load_checkpoint(path, model, &opt); }).find("[Adam] state entry 'step' is") == 0);
  }
  nn::SafeTensors st;
  st.tensors = {{"model.weight", model.weight.detach()}, {"model.bias", model.bias.detach()},
                {"optim.step", scalar(3, DType::float64)}, {"optim.0.bogus", zeros({2, 2})}};
  nn::save_safetensors(path, st);
  CHECK(error_of([&] { nn::load_checkpoint(path, model, &opt); }) ==
        "[Adam] state entry '0.bogus' names buffer 'bogus', which Adam does not have (expected: exp_avg, exp_avg_sq)");
}

TEST_CASE("safetensors: concurrent writers to one path never mix; the last complete file wins") {
  // each writer used to share path + ".tmp" opened with O_TRUNC: renames failed and files mixed writers
  TempDir dir;
  const std::string path = dir.file("shared.safetensors");
  std::atomic<int> errors{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w)
    writers.emplace_back([&, w] {
      nn::SafeTensors st;
      st.tensors = {{"x", full({4096}, w)}};
      st.metadata["writer"] = std::to_string(w);
      for (int k = 0; k < 25; ++k) {
        try {
          nn::save_safetensors(path, st);
        } catch (const ag::Error&) {
          ++errors;
        }
      }
    });
  for (auto& t : writers) t.join();
  CHECK(errors == 0);
  nn::SafeTensors back = nn::load_safetensors(path);
  const double w = std::stod(back.metadata.at("writer"));
  for (float v : back.at("x").to_vector<float>()) REQUIRE(v == w);
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir.path)) files += e.is_regular_file();
  CHECK(files == 1);  // no temporary left behind
  // the mode a plain create gives (not mkstemp's private 0600)
  const mode_t mask = ::umask(022);
  ::umask(mask);
  CHECK((fs::status(path).permissions() & fs::perms::all) == (fs::perms(0644 & ~mask)));
}

}  // TEST_SUITE
