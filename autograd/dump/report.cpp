// Graph dumps: a trace as a text table for terminals, and the report of what
// the live tape keeps for backward (Note [Graph lifetime]).
#include "autograd/dump/internal.hpp"

#include <algorithm>
#include <set>

namespace ag::dump {

namespace {

std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows)
    for (size_t c = 0; c < r.size(); ++c) {
      if (width.size() <= c) width.push_back(0);
      width[c] = std::max(width[c], r[c].size());
    }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t c = 0; c < r.size(); ++c) line += fmt::format("{:<{}}", r[c], c + 1 < r.size() ? width[c] + 2 : 0);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string bytes_text(size_t b) {
  if (b < 10 * 1024) return fmt::format("{} B", b);
  if (b < 10 * 1024 * 1024) return fmt::format("{} KiB", b / 1024);
  return fmt::format("{} MiB", b / (1024 * 1024));
}

}  // namespace

}  // namespace ag::dump

namespace ag {

using namespace dump;  // the helpers above and in internal.hpp

std::string to_text(const Trace& trace, int digits) {
  DumpOptions o;
  View view(trace, o);
  const bool after = !trace.backward_order().empty();
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"step", "op", "inputs -> output", "shapes", "scope"});
  if (after) rows.back().push_back("|dL/d output|");
  for (size_t k = 0; k < trace.steps().size(); ++k) {
    const auto& st = trace.steps()[k];
    std::vector<std::string> ins, shapes;
    for (int v : st.inputs) {
      ins.push_back(view.name(v));
      shapes.push_back(shape_text(view.value(v).shape));
    }
    rows.push_back({std::to_string(k), label_of(st), join(ins, ", ") + " -> " + view.name(st.output),
                    join(shapes, ", ") + " -> " + shape_text(view.value(st.output).shape),
                    st.scope.empty() ? "-" : st.scope});
    if (after) rows.back().push_back(st.upstream.defined() ? num(norm(st.upstream), digits) : "-");
  }
  std::string out = table(rows);
  std::vector<std::vector<std::string>> leaves = {{"leaf", "shape", "dtype", "kind", after ? "|grad|" : ""}};
  for (size_t v = 0; v < trace.values().size(); ++v) {
    const auto& val = trace.values()[v];
    if (!val.leaf) continue;
    const int id = static_cast<int>(v);
    leaves.push_back({view.name(id), shape_text(val.shape), std::string(dtype_name(val.dtype)),
                      view.is_param(id) ? "parameter" : "input",
                      after && val.grad.defined() ? num(norm(val.grad), digits) : ""});
  }
  return out + "\n" + table(leaves);
}

LifetimeReport lifetime_report() {
  LifetimeReport r;
  auto graph = current_graph();
  if (!graph) return r;
  std::vector<LifetimeReport::Row> by_op(static_cast<size_t>(kNumOps));
  std::set<const void*> activations, leaves;
  for (const Node& n : graph->nodes) {
    auto& row = by_op[static_cast<size_t>(n.op)];
    row.op = n.op;
    ++row.nodes;
    ++r.nodes;
    for (const SavedTensor& s : n.saved) {
      ++row.saved_tensors;
      row.saved_bytes += s.bytes();
      r.saved_bytes += s.bytes();
      if (s.leaf && leaves.insert(s.leaf->storage.get()).second) r.leaf_bytes += s.bytes();
      if (!s.leaf && s.storage && activations.insert(s.storage.get()).second) r.activation_bytes += s.bytes();
    }
  }
  for (const auto& row : by_op)
    if (row.nodes) r.rows.push_back(row);
  return r;
}

std::string to_string(const LifetimeReport& report) {
  std::vector<std::vector<std::string>> rows = {{"op", "nodes", "saved tensors", "saved bytes"}};
  for (const auto& row : report.rows)
    rows.push_back({std::string(op_name(row.op)), std::to_string(row.nodes), std::to_string(row.saved_tensors),
                    bytes_text(row.saved_bytes)});
  rows.push_back({"total", std::to_string(report.nodes), "", bytes_text(report.saved_bytes)});
  return fmt::format(
      "{}distinct memory kept for backward: {} of activations (recorded tensors, freed when backward releases the "
      "tape), {} of parameters and inputs (alive anyway)\n",
      table(rows), bytes_text(report.activation_bytes), bytes_text(report.leaf_bytes));
}

}  // namespace ag
