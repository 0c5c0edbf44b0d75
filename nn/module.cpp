#include "nn/module.hpp"

#include <cctype>

namespace nn {

Tensor Module::operator()(const Tensor& x) {
  // A Sequential's children are named by position: their scope reads "Linear0", "Sigmoid1", ...
  const bool positional = !name_.empty() && std::isdigit(static_cast<unsigned char>(name_[0]));
  ag::NameScope scope(positional ? type_ + name_ : name());
  return forward(x);
}

void Module::collect(const std::string& prefix, NamedTensors& out) const {
  for (const auto& [n, t] : params_) out.emplace_back(prefix + n, t);
  for (const auto& [n, m] : children_) m->collect(prefix + n + ".", out);
}

void Module::collect_buffers(const std::string& prefix, NamedTensors& out) const {
  for (const auto& [n, t] : buffers_) out.emplace_back(prefix + n, t);
  for (const auto& [n, m] : children_) m->collect_buffers(prefix + n + ".", out);
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect_buffers("", out);
  return out;
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

void Module::to(ag::Device device) {
  // in place: the optimiser and the user hold these same tensors; their gradients are dropped
  for (auto& [n, t] : named_parameters()) t.move_to_(device);
  for (auto& [n, t] : named_buffers()) t.move_to_(device);
}

ag::Device Module::device() const {
  NamedTensors p = named_parameters();
  if (p.empty()) p = named_buffers();
  return p.empty() ? ag::Device::cpu() : p.front().second.device();
}

void Module::zero_grad() {
  for (auto& [n, t] : named_parameters()) t.zero_grad();
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, m] : children_) m->train(on);
}

Tensor Module::register_parameter(const std::string& name, Tensor value) {
  if (!value.defined()) ag::fail(type_, "parameter '{}' is undefined", name);
  for (auto& [n, t] : params_)
    if (n == name) ag::fail(type_, "parameter '{}' is registered twice", name);
  value.requires_grad_();
  value.set_name(name);
  params_.emplace_back(name, value);
  return value;
}

Tensor Module::register_buffer(const std::string& name, Tensor value) {
  if (!value.defined()) ag::fail(type_, "buffer '{}' is undefined", name);
  for (auto& [n, t] : buffers_)
    if (n == name) ag::fail(type_, "buffer '{}' is registered twice", name);
  for (auto& [n, t] : params_)
    if (n == name) ag::fail(type_, "buffer '{}' has the name of a parameter", name);
  value.set_name(name);
  buffers_.emplace_back(name, value);
  return value;
}

namespace {
// Copies `source` into `mine` (this module's parameters or buffers, `kind`), which
// must match it name for name, in shape and dtype; `op` names the caller in errors.
void copy_named(const char* op, const char* kind, const std::string& module, NamedTensors mine,
                const NamedTensors& source) {
  if (mine.size() != source.size())
    ag::fail(op, "{} has {} {}s, but {} were given", module, mine.size(), kind, source.size());
  ag::NoGradGuard off;
  for (size_t i = 0; i < mine.size(); ++i) {
    auto& [n, t] = mine[i];
    const auto& [sn, st] = source[i];
    if (n != sn) ag::fail(op, "{} {} is '{}' here but '{}' in the source", kind, i, n, sn);
    if (t.shape() != st.shape() || t.dtype() != st.dtype())
      ag::fail(op, "'{}' has shape {} {} here but {} {} in the source", n, t.shape(), t.dtype(), st.shape(),
               st.dtype());
    t.copy_(st);
  }
}
}  // namespace

void Module::load_buffers(const NamedTensors& buffers) {
  copy_named("load_buffers", "buffer", name(), named_buffers(), buffers);
}

std::map<std::string, std::string> Module::named_extra_state() const {
  std::map<std::string, std::string> out = extra_state();
  for (const auto& [name, child] : children_)
    for (auto& [k, v] : child->named_extra_state()) out.emplace(name + "." + k, std::move(v));
  return out;
}

void Module::set_extra_state(const std::string& key, const std::string&) {
  ag::fail("load_extra_state", "{} has no extra state '{}'", name(), key);
}

void Module::load_extra_state(const std::map<std::string, std::string>& state) {
  for (const auto& [key, value] : state) {
    // the longest child name that prefixes the key owns it; else it is this module's own
    Module* owner = this;
    std::string rest = key;
    for (bool found = true; found;) {
      found = false;
      for (const auto& [name, child] : owner->children_)
        if (rest.size() > name.size() && rest.compare(0, name.size(), name) == 0 && rest[name.size()] == '.') {
          owner = child.get();
          rest = rest.substr(name.size() + 1);
          found = true;
          break;
        }
    }
    owner->set_extra_state(rest, value);
  }
}

void Module::load_parameters(const NamedTensors& params) {
  copy_named("load_parameters", "parameter", name(), named_parameters(), params);
}

Sequential& Sequential::add(std::shared_ptr<Module> m) {
  if (!m) ag::fail("Sequential", "add() needs a module, got nullptr");
  layers_.push_back(register_module(std::to_string(layers_.size()), std::move(m)));
  return *this;
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& m : layers_) h = (*m)(h);
  return h;
}

}  // namespace nn
