// The Trainer: history, schedules, early stopping, progress lines, CSV and charts.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "helpers.hpp"
#include "nn/nn.hpp"
#include "nn/augment.hpp"
#include "nn/trainer.hpp"

using namespace ag;
namespace fs = std::filesystem;

TEST_SUITE("nn") {

TEST_CASE("Trainer: the spiral is learned, the history and the printed lines agree") {
  nn::Dataset data = nn::spiral(60, 3, 1);
  Generator gen(2);
  nn::MLP model({2, 32, 3}, gen, "relu", nn::Init::he);
  nn::Adam opt(model.parameters(), 0.02);
  nn::DataLoader loader(data, {.batch_size = 30, .seed = 3});
  std::FILE* out = std::tmpfile();
  nn::Trainer trainer(model, opt, {.epochs = 60, .out = out});
  const auto& h = trainer.fit(loader, &data);
  REQUIRE(h.size() == 60);
  CHECK(h.back().loss < h.front().loss);
  CHECK(h.back().accuracy > 0.9);
  CHECK(h.back().val_accuracy > 0.9);
  auto [loss, acc] = trainer.evaluate(data);
  CHECK(loss == doctest::Approx(h.back().val_loss));
  CHECK(acc == doctest::Approx(h.back().val_accuracy));
  std::rewind(out);
  std::string text(4096, '\0');
  text.resize(std::fread(text.data(), 1, text.size(), out));
  std::fclose(out);
  CHECK(text.find("epoch   1  loss ") == 0);  // plain lines when the output is not a terminal
  CHECK(text.find("val_acc") != std::string::npos);
}

TEST_CASE("Trainer: evaluate_train measures the training set at the end of each epoch, under the validation set's name") {
  nn::Dataset data = nn::spiral(40, 3, 1);
  Generator gen(2);
  nn::MLP model({2, 16, 3}, gen, "relu", nn::Init::he);
  nn::Adam opt(model.parameters(), 0.02);
  nn::DataLoader loader(data, {.batch_size = 30, .seed = 3});
  std::FILE* out = std::tmpfile();
  nn::Trainer trainer(model, opt, {.epochs = 5, .out = out, .validation_name = "test", .evaluate_train = true});
  const auto& h = trainer.fit(loader, &data);
  // the training set is the validation set here: measured the same way at the same moment, they agree exactly
  CHECK(h.back().loss == doctest::Approx(h.back().val_loss));
  CHECK(h.back().accuracy == doctest::Approx(h.back().val_accuracy));
  std::rewind(out);
  std::string text(4096, '\0');
  text.resize(std::fread(text.data(), 1, text.size(), out));
  std::fclose(out);
  CHECK(text.find("test_acc") != std::string::npos);
  CHECK(text.find("val_acc") == std::string::npos);
  CHECK(text.find("ms") != std::string::npos);  // a sub-second epoch shows its time in milliseconds, not 0.0s
}

TEST_CASE("Trainer: a per-iteration schedule shows where the rate went during the epoch") {
  nn::Dataset data = nn::spiral(10, 3, 1);
  Generator gen(2);
  nn::MLP model({2, 4, 3}, gen);
  nn::SGD opt(model.parameters(), 1.0);
  nn::DataLoader loader(data, {.batch_size = 10});
  std::FILE* out = std::tmpfile();
  nn::Trainer trainer(model, opt, {.epochs = 1,
                                   .schedule = std::make_shared<nn::Warmup>(3, std::make_shared<nn::Constant>(0.1), 0.1),
                                   .schedule_per_iteration = true,
                                   .out = out});
  const auto& h = trainer.fit(loader);
  CHECK(h[0].lr == doctest::Approx(0.01));
  CHECK(h[0].lr_end > h[0].lr);
  std::rewind(out);
  std::string text(4096, '\0');
  text.resize(std::fread(text.data(), 1, text.size(), out));
  std::fclose(out);
  CHECK(text.find(" -> ") != std::string::npos);
}

TEST_CASE("Trainer: a schedule sets the learning rate each epoch") {
  nn::Dataset data = nn::spiral(10, 3, 1);
  Generator gen(2);
  nn::MLP model({2, 4, 3}, gen);
  nn::SGD opt(model.parameters(), 1.0);
  nn::DataLoader loader(data, {.batch_size = 30});
  nn::Trainer trainer(model, opt, {.epochs = 4, .schedule = std::make_shared<nn::StepDecay>(0.1, 2, 0.5), .progress = false});
  const auto& h = trainer.fit(loader);
  CHECK(h[0].lr == doctest::Approx(0.1));
  CHECK(h[1].lr == doctest::Approx(0.1));
  CHECK(h[2].lr == doctest::Approx(0.05));
  CHECK(std::isnan(h[0].val_loss));
}

TEST_CASE("Trainer: early stopping when the validation loss stops improving") {
  nn::Dataset data = nn::spiral(10, 3, 1);
  Generator gen(2);
  nn::MLP model({2, 4, 3}, gen);
  nn::SGD opt(model.parameters(), 0.0);  // nothing changes: no epoch improves on the first
  nn::DataLoader loader(data, {.batch_size = 30});
  nn::Trainer trainer(model, opt, {.epochs = 20, .early_stopping_patience = 2, .progress = false});
  CHECK(trainer.fit(loader, &data).size() == 3);
}

TEST_CASE("Trainer: the history as CSV, and as a chart when gnuplot is there") {
  nn::Dataset data = nn::spiral(10, 3, 1);
  Generator gen(2);
  nn::MLP model({2, 4, 3}, gen);
  nn::SGD opt(model.parameters(), 0.1);
  nn::DataLoader loader(data, {.batch_size = 30});
  nn::Trainer trainer(model, opt, {.epochs = 3, .progress = false});
  trainer.fit(loader, &data);
  const fs::path dir = fs::temp_directory_path() / ("tapegrad_trainer_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  trainer.write_history_csv((dir / "h.csv").string());
  std::ifstream in(dir / "h.csv");
  std::string header, line;
  std::getline(in, header);
  CHECK(header == "epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds,lr_end");
  int rows = 0;
  while (std::getline(in, line)) ++rows;
  CHECK(rows == 3);
  std::string why;
  const std::string png = (dir / "curves.png").string();
  if (trainer.plot_history(png, &why)) {
    std::ifstream p(png, std::ios::binary);
    char magic[4] = {};
    p.read(magic, 4);
    CHECK(std::string(magic + 1, 3) == "PNG");
  } else {
    MESSAGE("chart not rendered: " << why);
    CHECK(fs::exists(png + ".gp"));
  }
  CHECK_FALSE(fs::exists(png + ".tmp"));
  for (const auto& e : fs::directory_iterator(dir)) CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("Trainer: a run resumed from its end-of-epoch checkpoint ends exactly where the uninterrupted run ends") {
  nn::Dataset data = nn::spiral(30, 3, 4);
  const std::string path = (fs::temp_directory_path() / ("tapegrad_resume_" + std::to_string(::getpid()))).string();
  auto net = [](uint64_t seed) {
    Generator gen(seed);
    auto m = std::make_shared<nn::Sequential>();
    m->add(std::make_shared<nn::Linear>(2, 16, gen)).add(nn::ReLU()).add(std::make_shared<nn::Dropout>(0.2, seed));
    m->add(std::make_shared<nn::Linear>(16, 3, gen));
    return m;
  };
  nn::TrainerOptions o{.epochs = 5, .progress = false};
  o.schedule = std::make_shared<nn::StepDecay>(0.05, 2, 0.5);
  auto straight = net(1);
  nn::SGD m1(straight->parameters(), 0.05, 0.9);
  nn::DataLoader l1(data, {.batch_size = 16, .seed = 2});
  nn::Trainer(*straight, m1, o).fit(l1, &data);

  auto first = net(1);
  nn::SGD m2(first->parameters(), 0.05, 0.9);
  nn::DataLoader l2(data, {.batch_size = 16, .seed = 2});
  o.checkpoint = path;
  nn::TrainerOptions three = o;
  three.epochs = 3;
  nn::Trainer(*first, m2, three).fit(l2, &data);  // stops after epoch 3 of 5

  auto resumed = net(9);
  nn::SGD m3(resumed->parameters(), 0.05, 0.9);
  nn::DataLoader l3(data, {.batch_size = 16, .seed = 7});
  nn::Trainer trainer(*resumed, m3, o);
  trainer.resume(path, l3);
  CHECK(trainer.history().size() == 3);
  CHECK(trainer.fit(l3, &data).size() == 5);
  const auto a = straight->named_parameters(), b = resumed->named_parameters();
  for (size_t i = 0; i < a.size(); ++i) CHECK(a[i].second.to_vector<float>() == b[i].second.to_vector<float>());

  nn::save_checkpoint(path, *resumed, &m3);  // a plain checkpoint has no trainer state
  CHECK_THROWS_WITH_AS(trainer.resume(path, l3), doctest::Contains("was not written by a Trainer"), Error);
  fs::remove(path);
}

TEST_CASE("a training loader applies its transform (augmentation) to each batch's inputs") {
  Generator gen(5);
  nn::Dataset images{randn({8, 1, 4, 4}, gen), randint({8}, 0, 2, gen)};
  auto aug = std::make_shared<nn::Compose>(
      std::vector<std::shared_ptr<const nn::Augmentation>>{std::make_shared<nn::RandomFlip>(1.0)}, 1);
  nn::DataLoader plain(images, {.batch_size = 4, .shuffle = false});
  nn::DataLoader flipped(images, {.batch_size = 4, .shuffle = false,
                                  .transform = [aug](const Tensor& x) { return (*aug)(x); }});
  for (const nn::Batch& b : flipped) (void)b;  // one epoch, to start both loaders alike
  for (const nn::Batch& b : plain) (void)b;
  CHECK(flipped.batch(1).x.to_vector<float>() == nn::hflip(plain.batch(1).x).to_vector<float>());
  CHECK(flipped.batch(1).x.to_vector<float>() != plain.batch(1).x.to_vector<float>());
  CHECK(flipped.batch(1).t.to_vector<int64_t>() == plain.batch(1).t.to_vector<int64_t>());
  nn::DataLoader broken(images, {.batch_size = 4, .transform = [](const Tensor& x) { return slice(x, 0, 0, 1); }});
  CHECK(error_of([&] { broken.batch(0); }).find("[DataLoader] the transform must return one input per example") == 0);
}

}  // TEST_SUITE
