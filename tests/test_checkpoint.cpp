// safetensors checkpoints: round trips, the file format, corruption, resuming.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

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

}  // TEST_SUITE
