#include "nn/trainer.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

#include "autograd/atomic_file.hpp"
#include "nn/checkpoint.hpp"
#include "nn/dist.hpp"
#include "nn/layers.hpp"

namespace nn {

namespace {

using Clock = std::chrono::steady_clock;

std::string duration(double s) {
  if (!(s >= 0 && s < 1e15)) return "?";  // NaN, negative or beyond int64: no conversion
  const auto t = static_cast<int64_t>(s + 0.5);
  return t >= 3600 ? fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60) : fmt::format("{}:{:02}", t / 60, t % 60);
}

// An epoch's time: milliseconds below a second (spiral's epochs take a few), then seconds, then m:ss.
std::string epoch_time(double s) {
  if (!(s >= 0 && s < 1e15)) return "?";
  if (s < 0.01) return fmt::format("{:.2f}ms", s * 1000);
  if (s < 1) return fmt::format("{:.0f}ms", s * 1000);
  if (s < 60) return fmt::format("{:.1f}s", s);
  return duration(s);
}

}  // namespace

Trainer::Trainer(Module& model, Optimizer& optimizer, TrainerOptions opts)
    : model_(model), opt_(optimizer), opts_(std::move(opts)) {
  if (opts_.epochs <= 0) ag::fail("Trainer", "needs epochs > 0, got {}", opts_.epochs);
  if (!opts_.loss) opts_.loss = [](const Tensor& y, const Tensor& t) { return ag::softmax_cross_entropy(y, t); };
  if (!opts_.out) opts_.out = stdout;
  model_.to(opts_.device);
  if (opts_.distributed) {
    dp_ = std::make_unique<DataParallel>(model_);
    lead_ = ag::dist::rank() == 0;
    if (!lead_) opts_.progress = false;
  }
}

Trainer::~Trainer() = default;

std::pair<double, double> Trainer::evaluate(const Dataset& data, int64_t batch_size) {
  check_dataset(data, "evaluate");
  const bool was_training = model_.is_training();
  model_.eval();
  ag::NoGradGuard off;
  ag::AutocastGuard autocast(opts_.autocast);  // unset: a caller's own guard stays in force
  double loss = 0, hits = 0;
  DataLoader loader(data, {.batch_size = batch_size, .shuffle = false});
  for (const Batch& b : loader) {
    const Tensor t = b.t.to(opts_.device);
    Tensor y = model_(b.x.to(opts_.device));
    const double n = static_cast<double>(b.size());
    loss += opts_.loss(y, t).value_at(0) * n;
    if (opts_.classification) hits += accuracy(y, t) * n;
  }
  model_.train(was_training);
  const double n = static_cast<double>(data.size());
  return {loss / n, opts_.classification ? hits / n : NAN};
}

const std::vector<EpochStats>& Trainer::fit(DataLoader& train, const Dataset* validation) {
  const bool tty = opts_.progress && ::isatty(::fileno(opts_.out));
  const int64_t batches = train.size();
  double best = INFINITY;
  int since_best = 0;
  auto track = [&](double val_loss) {  // early stopping: the best validation loss, and epochs since
    if (val_loss < best) {
      best = val_loss;
      since_best = 0;
    } else {
      ++since_best;
    }
  };
  for (const EpochStats& e : history_)  // it goes on counting across fit() calls and resumes
    if (!std::isnan(e.val_loss)) track(e.val_loss);
  int64_t& iteration = iteration_;
  const int first = history_.empty() ? 1 : history_.back().epoch + 1;
  const int stop = resumed_ ? opts_.epochs + 1 : first + opts_.epochs;
  resumed_ = false;
  for (int epoch = first; epoch < stop; ++epoch) {
    const auto start = Clock::now();
    if (opts_.schedule && !opts_.schedule_per_iteration) opt_.set_lr(opts_.schedule->lr(epoch - 1));
    model_.train();
    EpochStats st;
    st.epoch = epoch;
    st.lr = opt_.lr();
    double loss_sum = 0, hits = 0, seen = 0;
    int64_t i = 0;
    for (const Batch& b : train) {
      if (opts_.schedule && opts_.schedule_per_iteration) opt_.set_lr(opts_.schedule->lr(iteration));
      if (i == 0) st.lr = opt_.lr();  // the rate of the epoch's first step
      opt_.zero_grad();
      const Tensor t = b.t.to(opts_.device);
      Tensor y, loss;
      {
        ag::AutocastGuard autocast(opts_.autocast);
        y = model_(b.x.to(opts_.device));
        loss = opts_.loss(y, t);
      }
      loss.backward();
      opt_.step();
      ++iteration;
      const double n = static_cast<double>(b.size());
      loss_sum += loss.value_at(0) * n;
      if (opts_.classification) {
        ag::NoGradGuard off;
        hits += accuracy(y.detach(), t) * n;
      }
      seen += n;
      ++i;
      if (tty) {
        const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
        const int width = 30, done = static_cast<int>(width * i / std::max<int64_t>(batches, 1));
        fmt::print(opts_.out, "\repoch {:3d} [{}{}] {}/{} loss {:.4f} eta {}   ", epoch, std::string(done, '='),
                   std::string(width - done, ' '), i, batches, loss_sum / seen,
                   duration(elapsed / static_cast<double>(i) * static_cast<double>(batches - i)));
        std::fflush(opts_.out);
      }
    }
    st.lr_end = opt_.lr();
    if (dp_) {  // every rank's batches count
      Tensor sums = ag::from_vector(std::vector<double>{loss_sum, hits, seen}, {3}, ag::DType::float64);
      ag::dist::all_reduce(sums);
      loss_sum = sums.value_at(0), hits = sums.value_at(1), seen = sums.value_at(2);
    }
    st.loss = seen > 0 ? loss_sum / seen : NAN;
    st.accuracy = opts_.classification && seen > 0 ? hits / seen : NAN;
    if (opts_.evaluate_train) std::tie(st.loss, st.accuracy) = evaluate(train.dataset());
    if (validation) std::tie(st.val_loss, st.val_accuracy) = evaluate(*validation);
    st.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    history_.push_back(st);
    if (!opts_.checkpoint.empty() && lead_) save(opts_.checkpoint, train);
    const bool last = epoch + 1 == stop;
    if (opts_.progress && (epoch % std::max(1, opts_.print_every) == 0 || epoch == first || last)) {
      std::string line = fmt::format("epoch {:3d}  loss {:.4f}", epoch, st.loss);
      if (opts_.classification) line += fmt::format("  acc {:.4f}", st.accuracy);
      const std::string& v = opts_.validation_name;
      if (validation) line += fmt::format("  {}_loss {:.4f}", v, st.val_loss);
      if (validation && opts_.classification) line += fmt::format("  {}_acc {:.4f}", v, st.val_accuracy);
      // a schedule that moved during the epoch (a warm-up, per-iteration decay) shows where it went
      line += st.lr_end != st.lr ? fmt::format("  lr {:.3g} -> {:.3g}", st.lr, st.lr_end) : fmt::format("  lr {:.3g}", st.lr);
      line += "  " + epoch_time(st.seconds);
      fmt::print(opts_.out, "{}{}\n", tty ? "\r\033[K" : "", line);
    } else if (tty) {
      fmt::print(opts_.out, "\r\033[K");
    }
    if (validation && opts_.early_stopping_patience > 0) {
      track(st.val_loss);
      if (since_best >= opts_.early_stopping_patience) {
        if (opts_.progress)
          fmt::print(opts_.out, "early stopping: no better {} loss for {} epochs\n", opts_.validation_name, since_best);
        break;
      }
    }
  }
  return history_;
}

namespace {
const char* const kHistoryHeader = "epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds,lr_end";
}  // namespace

std::string Trainer::history_csv(bool exact) const {
  // exact: every double round-trips (checkpoints); else 6 digits, for people and plots
  const int digits = exact ? 17 : 6, second_digits = exact ? 6 : 4;
  std::string s = std::string(kHistoryHeader) + "\n";
  for (const EpochStats& e : history_)
    s += fmt::format("{0},{1:.{8}g},{2:.{8}g},{3:.{8}g},{4:.{8}g},{5:.{8}g},{6:.{9}f},{7:.{8}g}\n", e.epoch, e.loss,
                     e.accuracy, e.val_loss, e.val_accuracy, e.lr, e.seconds, e.lr_end, digits, second_digits);
  return s;
}

void Trainer::save(const std::string& path, const DataLoader& train) const {
  save_checkpoint(path, model_, &opt_,
                  {{"trainer.history", history_csv(true)},
                   {"trainer.iteration", std::to_string(iteration_)},
                   {"trainer.loader", train.rng_state()}});
}

void Trainer::resume(const std::string& path, DataLoader& train) {
  // everything is read and checked before anything is changed
  const SafeTensors st = load_safetensors(path);
  auto meta = [&](const char* key) -> const std::string& {
    auto it = st.metadata.find(key);
    if (it == st.metadata.end())
      ag::fail("Trainer::resume", "{} has no '{}': it was not written by a Trainer (TrainerOptions::checkpoint)", path,
               key);
    return it->second;
  };
  std::vector<EpochStats> history;
  std::istringstream lines(meta("trainer.history"));
  std::string line;
  std::getline(lines, line);
  if (line != kHistoryHeader) ag::fail("Trainer::resume", "{}: the history starts with '{}', not '{}'", path, line, kHistoryHeader);
  while (std::getline(lines, line)) {
    EpochStats e;
    std::replace(line.begin(), line.end(), ',', ' ');
    std::istringstream f(line);
    f >> e.epoch;
    for (double* v : {&e.loss, &e.accuracy, &e.val_loss, &e.val_accuracy, &e.lr, &e.seconds, &e.lr_end}) {
      std::string word;
      f >> word;
      *v = std::strtod(word.c_str(), nullptr);  // reads nan and inf as written
    }
    if (f.fail() || e.epoch != static_cast<int>(history.size()) + 1)
      ag::fail("Trainer::resume", "{}: history line {} is not an epoch's record: '{}'", path, history.size() + 1, line);
    history.push_back(e);
  }
  if (history.empty()) ag::fail("Trainer::resume", "{}: the history is empty", path);
  if (history.back().epoch >= opts_.epochs)
    ag::fail("Trainer::resume", "{} is the end of epoch {}, and this Trainer trains {} epochs: nothing is left",
             path, history.back().epoch, opts_.epochs);
  int64_t iteration = 0;
  try {
    size_t used = 0;
    iteration = std::stoll(meta("trainer.iteration"), &used);
    if (used != meta("trainer.iteration").size() || iteration < 0) throw std::invalid_argument("");
  } catch (const std::exception&) {
    ag::fail("Trainer::resume", "{}: trainer.iteration is '{}', not a count", path, meta("trainer.iteration"));
  }
  const std::string loader = meta("trainer.loader");
  load_checkpoint(st, model_, &opt_, path);
  train.set_rng_state(loader);
  history_ = std::move(history);
  iteration_ = iteration;
  resumed_ = true;
}

void Trainer::write_history_csv(const std::string& path) const {
  if (!lead_) return;  // data-parallel: rank 0 writes
  ag::write_file(path, history_csv(false));
}

bool Trainer::plot_history(const std::string& path, std::string* why) const {
  if (!lead_) {
    if (why) *why = "data-parallel training: rank 0 draws the plot";
    return false;
  }
  const bool svg = path.size() > 4 && path.substr(path.size() - 4) == ".svg";
  const std::string data = path + ".csv", script = path + ".gp";
  write_history_csv(data);
  const bool val = !history_.empty() && std::isfinite(history_.front().val_loss);
  const std::string style = history_.size() > 40 ? "lines lw 2" : "linespoints pt 7 ps 0.6";
  // whole epochs on the x axis, at most 7 ticks: 1, 2 or 5 times a power of ten apart
  const double epochs = history_.empty() ? 1.0 : static_cast<double>(history_.back().epoch);
  double tick = 1;
  for (int k = 0; epochs / tick > 7; ++k) tick *= k % 3 == 1 ? 2.5 : 2.0;
  auto script_for = [&](const std::string& output) {
    const std::string legend = opts_.validation_name == "val" ? "validation" : opts_.validation_name;
    const std::string train = opts_.evaluate_train ? "train (at the end of each epoch)" : "train (mean over the epoch)";
    return fmt::format(
        "set terminal {0} size 1000,430 noenhanced\nset output '{1}'\nset datafile separator ','\n"
        "set multiplot layout 1,2 title '{6}'\nset xlabel 'epoch'\nset grid\nset xtics out nomirror {8:g}\n"
        "set key top right\nset title 'loss'\nset ylabel 'loss'\n"
        "plot '{2}' every ::1 using 1:2 with {3} title '{7}'{4}\n"
        "set key bottom right\nset title 'accuracy'\nset ylabel 'accuracy'\n"
        "plot '{2}' every ::1 using 1:3 with {3} title '{7}'{5}\nunset multiplot\n",
        svg ? "svg" : "pngcairo", output, data, style,
        val ? fmt::format(", '' every ::1 using 1:4 with {} title '{}'", style, legend) : "",
        val ? fmt::format(", '' every ::1 using 1:5 with {} title '{}'", style, legend) : "",
        opts_.title.empty() ? std::string("training history") : opts_.title, train, tick);
  };
  ag::write_file(script, script_for(path));  // for the user to re-run or edit
  if (std::system("command -v gnuplot > /dev/null 2>&1") != 0) {
    if (why) *why = "gnuplot is not installed (Debian package gnuplot-nox); wrote " + data + " and " + script;
    return false;
  }
  // Render to this writer's own temporary file, then rename: a reader never
  // sees half a picture, and concurrent writers never share one (Note [Atomic writes]).
  ag::AtomicFile out(path, "plot_history");
  const std::string& tmp = out.temp_path();
  ag::write_file(tmp + ".gp", script_for(tmp));
  const int rc = std::system(fmt::format("gnuplot '{}' > /dev/null 2>&1", tmp + ".gp").c_str());
  std::remove((tmp + ".gp").c_str());
  try {
    if (rc != 0) throw ag::Error("gnuplot failed");
    out.commit();
  } catch (const ag::Error&) {
    if (why) *why = "gnuplot failed to render " + path + " (run gnuplot " + script + " to see why)";
    return false;
  }
  return true;
}

}  // namespace nn
