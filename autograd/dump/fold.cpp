// Graph dumps: which nodes a drawing shows. A View folds modules (NameScopes)
// into boxes, merges back-to-back identical modules, and places each node in
// its cluster.
#include "autograd/dump/internal.hpp"

#include <map>

namespace ag::dump {

std::string parent_of(const std::string& scope) {
  const size_t k = scope.rfind('/');
  return k == std::string::npos ? "" : scope.substr(0, k);
}
std::string last_of(const std::string& scope) {
  const size_t k = scope.rfind('/');
  return k == std::string::npos ? scope : scope.substr(k + 1);
}

View::View(const Trace& t, DumpOptions opts) : tr(t), o(std::move(opts)) {
  const size_t nv = tr.values().size(), ns = tr.steps().size();
  consumers.resize(nv);
  for (size_t s = 0; s < ns; ++s)
    for (int v : tr.steps()[s].inputs) consumers[static_cast<size_t>(v)].push_back(static_cast<int>(s));
  box_of.assign(ns, -1);
  find_wrappers();
  if (o.fold) make_boxes();
  if (o.fold && o.fold_repeats) fold_repeats();
  for (size_t b = 0; b < boxes.size(); ++b)
    for (int s : boxes[b].steps) box_of[static_cast<size_t>(s)] = static_cast<int>(b);
  absorbed.assign(nv, 0);
  hidden.assign(nv, 0);
  for (size_t v = 0; v < nv; ++v) {
    const auto& users = consumers[v];
    if (users.empty()) continue;
    const int b = box_of[static_cast<size_t>(users[0])];
    bool inside = b >= 0;
    for (int s : users) inside = inside && box_of[static_cast<size_t>(s)] == b;
    if (!inside) continue;
    const int producer = tr.values()[v].step;
    if (producer >= 0 && box_of[static_cast<size_t>(producer)] == b) hidden[v] = 1;
    else if (is_param(static_cast<int>(v))) absorbed[v] = 1;
  }
  // The loss: the scalar that backward started from, or else the last step's scalar output.
  int root = -1;
  if (!tr.backward_order().empty()) root = step(tr.backward_order().front()).output;
  else if (ns > 0 && consumers[static_cast<size_t>(tr.steps().back().output)].empty()) root = tr.steps().back().output;
  if (root >= 0 && shape_numel(value(root).shape) == 1) loss = root;
  name_values();
}

// Each value's name in drawings: its own (set_name), or t<id> when it has none.
// Where several values share a name, as the parameters of two nn::Linear layers
// do (weight, bias), each leaf among them is qualified by the module that reads
// it, the last part of its first reader's NameScope: Linear0.weight, Linear2.weight.
void View::name_values() {
  const size_t nv = tr.values().size();
  names.resize(nv);
  std::map<std::string, int> uses;
  for (size_t v = 0; v < nv; ++v) {
    names[v] = value(static_cast<int>(v)).name();
    if (names[v].empty()) names[v] = fmt::format("t{}", v);
    else ++uses[names[v]];
  }
  for (size_t v = 0; v < nv; ++v) {
    if (uses[names[v]] < 2 || !value(static_cast<int>(v)).leaf || consumers[v].empty()) continue;
    const std::string module = last_of(step(consumers[v].front()).scope);
    if (!module.empty()) names[v] = module + "." + names[v];
  }
}

// Folding a graph into a single box shows nothing, so a scope that is the only
// one at its level (a model around its layers, "net" around "net/fc1" and
// "net/fc2") stays open, and so does its only child, and so on down.
void View::find_wrappers() {
  std::string level;
  while (true) {
    std::set<std::string> children;
    for (const auto& st : tr.steps()) {
      const std::string& s = st.scope;
      if (s.size() <= level.size() || (!level.empty() && !s.starts_with(level + "/"))) continue;
      const size_t from = level.empty() ? 0 : level.size() + 1;
      children.insert(s.substr(0, s.find('/', from)));
    }
    if (children.size() != 1) return;
    level = *children.begin();
    wrappers.insert(level);
  }
}

// A scope is drawn open (as a cluster) unless folding closes it; wrappers,
// expanded scopes and their parents stay open.
bool View::open(const std::string& scope) const {
  if (!o.fold || wrappers.count(scope)) return true;
  for (const std::string& e : o.expand)
    if (e == scope || e.starts_with(scope + "/")) return true;
  return false;
}

// The outermost closed prefix of a step's scope: the module box it folds into ("" for none).
std::string View::box_scope(const std::string& scope) const {
  size_t end = 0;
  while (end != std::string::npos && !scope.empty()) {
    end = scope.find('/', end + 1);
    std::string prefix = scope.substr(0, end);
    if (!open(prefix)) return prefix;
  }
  return "";
}

void View::make_boxes() {
  int prev = -1;
  for (size_t s = 0; s < tr.steps().size(); ++s) {
    const std::string bs = box_scope(tr.steps()[s].scope);
    if (bs.empty()) {
      prev = -1;
      continue;
    }
    if (prev < 0 || boxes[static_cast<size_t>(prev)].scope != bs) {
      boxes.push_back({bs, {}, {last_of(bs)}});
      prev = static_cast<int>(boxes.size() - 1);
    }
    boxes[static_cast<size_t>(prev)].steps.push_back(static_cast<int>(s));
  }
}

// What makes two modules identical: the same ops with the same attrs and shapes, wired the same way.
std::string View::signature(const Box& b) const {
  std::string sig;
  const int first = b.steps.front();
  for (int s : b.steps) {
    const auto& st = step(s);
    sig += fmt::format("{}[{}]{}:", label_of(st), attrs_text(st, value(st.output).shape),
                       shape_text(value(st.output).shape));
    for (int v : st.inputs) {
      const int p = value(v).step;
      sig += p >= first && p <= s ? fmt::format("<{}", s - p) : shape_text(value(v).shape);
    }
    sig += ';';
  }
  return sig;
}

bool View::has_params(const Box& b) const {
  for (int s : b.steps)
    for (int v : step(s).inputs)
      if (is_param(v)) return true;
  return false;
}

// Whether boxes [b, b+k) repeat boxes [a, a+k): the same modules under the same
// parent, every step contiguous from a to b+k, and the second reading the first.
bool View::repeats(const std::vector<std::string>& sig, size_t a, size_t b, size_t k) const {
  for (size_t j = 0; j < k; ++j)
    if (sig[a + j] != sig[b + j] || parent_of(boxes[a + j].scope) != parent_of(boxes[b + j].scope)) return false;
  for (size_t m = a; m + 1 < b + k; ++m)
    if (boxes[m].steps.back() + 1 != boxes[m + 1].steps.front()) return false;
  const int first = boxes[a].steps.front(), last = boxes[a + k - 1].steps.back();
  for (size_t m = b; m < b + k; ++m)
    for (int s : boxes[m].steps)
      for (int v : step(s).inputs)
        if (value(v).step >= first && value(v).step <= last) return true;
  return false;
}

// The longest back-to-back repetition of a block of up to 4 modules starting at box i: (period, count).
std::pair<size_t, size_t> View::best_run(const std::vector<std::string>& sig, size_t i) const {
  std::pair<size_t, size_t> best{1, 1};
  for (size_t k = 1; k <= 4 && i + 2 * k <= boxes.size(); ++k) {
    size_t reps = 1;
    while (i + (reps + 1) * k <= boxes.size() && repeats(sig, i + (reps - 1) * k, i + reps * k, k)) ++reps;
    if (reps > 1 && reps * k > best.first * best.second) best = {k, reps};
  }
  return best;
}

// Merges back-to-back identical modules (layer1 -> layer2 -> ...), or identical
// runs of modules (Linear2 -> Tanh3 -> Linear4 -> Tanh5), into one box.
void View::fold_repeats() {
  std::vector<std::string> sig;
  for (const Box& b : boxes) sig.push_back(signature(b));
  std::vector<Box> merged;
  for (size_t i = 0; i < boxes.size();) {
    auto [k, reps] = best_run(sig, i);
    // A block reads better from a module with parameters: Linear -> Tanh rather than Tanh -> Linear.
    if (reps > 1 && k > 1 && !has_params(boxes[i])) {
      const auto [k2, reps2] = best_run(sig, i + 1);
      if (reps2 > 1 && k2 * reps2 >= k * reps) reps = 1;
    }
    if (reps == 1) {
      merged.push_back(std::move(boxes[i++]));
      continue;
    }
    Box group{boxes[i].scope, {}, {}, k};
    for (size_t m = i; m < i + k * reps; ++m) {
      group.steps.insert(group.steps.end(), boxes[m].steps.begin(), boxes[m].steps.end());
      group.modules.push_back(boxes[m].modules.front());
    }
    merged.push_back(std::move(group));
    i += k * reps;
  }
  boxes = std::move(merged);
}

int View::box_of_value(int v) const {
  const int p = value(v).step;
  return p < 0 ? -1 : box_of[static_cast<size_t>(p)];
}

std::string View::cluster_of_step(int s) const {
  if (!o.clusters) return "";
  const int b = box_of[static_cast<size_t>(s)];
  return b >= 0 ? parent_of(boxes[static_cast<size_t>(b)].scope) : step(s).scope;
}

// Outputs sit with their producer; a leaf sits in its consumers' cluster when they share one.
std::string View::cluster_of_value(int v) const {
  if (value(v).step >= 0) return cluster_of_step(value(v).step);
  const auto& users = consumers[static_cast<size_t>(v)];
  if (users.empty()) return "";
  const std::string c = cluster_of_step(users[0]);
  for (int s : users)
    if (cluster_of_step(s) != c) return "";
  return c;
}

}  // namespace ag::dump
