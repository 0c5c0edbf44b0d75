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

void Module::load_buffers(const NamedTensors& buffers) {
  NamedTensors mine = named_buffers();
  if (mine.size() != buffers.size())
    ag::fail("load_buffers", "{} has {} buffers, but {} were given", name(), mine.size(), buffers.size());
  ag::NoGradGuard off;
  for (size_t i = 0; i < mine.size(); ++i) {
    auto& [n, t] = mine[i];
    const auto& [bn, bt] = buffers[i];
    if (n != bn) ag::fail("load_buffers", "buffer {} is '{}' here but '{}' in the source", i, n, bn);
    if (t.shape() != bt.shape() || t.dtype() != bt.dtype())
      ag::fail("load_buffers", "'{}' has shape {} {} here but {} {} in the source", n, t.shape(), t.dtype(),
               bt.shape(), bt.dtype());
    t.copy_(bt);
  }
}

void Module::load_parameters(const NamedTensors& params) {
  NamedTensors mine = named_parameters();
  if (mine.size() != params.size())
    ag::fail("load_parameters", "{} has {} parameters, but {} were given", name(), mine.size(), params.size());
  ag::NoGradGuard off;
  for (size_t i = 0; i < mine.size(); ++i) {
    auto& [n, t] = mine[i];
    const auto& [pn, pt] = params[i];
    if (n != pn) ag::fail("load_parameters", "parameter {} is '{}' here but '{}' in the source", i, n, pn);
    if (t.shape() != pt.shape() || t.dtype() != pt.dtype())
      ag::fail("load_parameters", "'{}' has shape {} {} here but {} {} in the source", n, t.shape(), t.dtype(),
               pt.shape(), pt.dtype());
    t.copy_(pt);
  }
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
