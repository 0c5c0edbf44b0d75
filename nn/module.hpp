// Modules: objects that own parameters and compute a forward pass with ag ops.
// Parameters are collected recursively with dotted names ("fc1.weight"); each
// module's ops are recorded inside a NameScope of its name, so graph dumps can
// group (or fold) them.
#pragma once

#include "../autograd/config.hpp"  // Note [C++20 check]
#ifdef TAPEGRAD_CXX20

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../autograd/tapegrad.hpp"

namespace nn {

using ag::Tensor;
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  explicit Module(std::string type) : type_(std::move(type)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The forward pass; call the module (operator()) to record it under its name.
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x);

  // Parameters of this module and its children, depth first, with dotted names.
  NamedTensors named_parameters() const;
  std::vector<Tensor> parameters() const;
  int64_t num_parameters() const;
  // Forgets every parameter's gradient.
  void zero_grad();
  // Training mode (the default) or evaluation mode, for this module and its children.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // The module's type ("Linear") and the name it was registered under ("fc1"; its type at the top).
  const std::string& type() const { return type_; }
  const std::string& name() const { return name_.empty() ? type_ : name_; }
  // Copies parameter values from `params` (names and shapes must match exactly).
  void load_parameters(const NamedTensors& params);
  // Moves every parameter's values to `device` in place (handles held by optimisers stay valid); drops gradients.
  void to(ag::Device device);
  // The device of the first parameter (else the first buffer; cpu for a module with neither).
  ag::Device device() const;

  // Buffers (state that is not trained, e.g. BatchNorm's running statistics) of this module and
  // its children, depth first, with dotted names like parameters'.
  NamedTensors named_buffers() const;
  // Copies buffer values from `buffers` (names and shapes must match exactly).
  void load_buffers(const NamedTensors& buffers);
  // State that is neither a parameter nor a buffer, as text: the random
  // generator of a Dropout, say. Keys are dotted like parameters'
  // ("2.generator"). Checkpoints save it, so a resumed run draws the numbers
  // the uninterrupted run would have drawn.
  std::map<std::string, std::string> named_extra_state() const;
  // Restores what named_extra_state returned; keys this model does not have are
  // an error, and a module whose keys are absent keeps its state.
  void load_extra_state(const std::map<std::string, std::string>& state);

 protected:
  // Registers a parameter: it requires grad and is named "<module>.<name>" for dumps.
  Tensor register_parameter(const std::string& name, Tensor value);
  // Registers a buffer: state that is moved by to() and saved by checkpoints but not trained
  // (it does not require grad); named "<module>.<name>" for dumps.
  Tensor register_buffer(const std::string& name, Tensor value);
  // This module's own extra state (see named_extra_state); none by default.
  virtual std::map<std::string, std::string> extra_state() const { return {}; }
  virtual void set_extra_state(const std::string& key, const std::string& value);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    m->name_ = name;
    children_.emplace_back(name, m);
    return m;
  }

 private:
  void collect(const std::string& prefix, NamedTensors& out) const;
  void collect_buffers(const std::string& prefix, NamedTensors& out) const;
  std::string type_, name_;
  bool training_ = true;
  NamedTensors params_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

// Modules applied one after another.
class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  // Appends a module (named by its position: "0", "1", ...).
  Sequential& add(std::shared_ptr<Module> m);
  Tensor forward(const Tensor& x) override;
  size_t size() const { return layers_.size(); }
  Module& operator[](size_t i) { return *layers_.at(i); }

 private:
  std::vector<std::shared_ptr<Module>> layers_;
};

}  // namespace nn

#endif  // TAPEGRAD_CXX20
