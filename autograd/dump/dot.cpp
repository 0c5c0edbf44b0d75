// Graph dumps: a View as Graphviz DOT text: ops as boxes, tensors as ellipses
// with their values and gradients, folded modules, NameScope clusters, and the
// highlighted node and gradient edges of a backward frame.
#include "autograd/dump/internal.hpp"

#include <algorithm>
#include <map>

namespace ag::dump {

namespace {

constexpr std::string_view kGradColor = "#b03030";
constexpr std::string_view kHot = "#c0392b";

// "lhs = value" as one row for a number, or lhs over the left-aligned rows
// of a tensor: rows of a Graphviz HTML-like table.
std::string equation_rows(const std::string& lhs, const std::vector<std::string>& lines) {
  std::vector<std::string> rows = lines;
  if (rows.size() == 1) rows[0] = lhs + " = " + rows[0];
  else rows.insert(rows.begin(), lhs + " =");
  std::string out;
  for (const auto& r : rows) out += "<tr><td align=\"left\">" + esc(r) + "</td></tr>";
  return out;
}

std::string table_html(const std::string& rows) {
  return "<table border=\"0\" cellborder=\"0\" cellspacing=\"0\" cellpadding=\"0\">" + rows + "</table>";
}

std::string lines_html(const std::vector<std::string>& lines) {
  std::vector<std::string> e;
  for (const auto& l : lines) e.push_back(esc(l));
  return join(e, "<br/>");
}

// The table cell of a value's gradient, as the full drawing or a frame shows it ("" for none).
std::string grad_cell(const View& view, int v, const Frame* f) {
  Tensor g = f ? f->grad[static_cast<size_t>(v)] : view.value(v).grad;
  if (!g.defined() || (!f && !view.o.grads)) return "";
  std::string head = "grad";
  if (f && f->got[static_cast<size_t>(v)] < f->total[static_cast<size_t>(v)])
    head = fmt::format("grad so far ({} of {})", f->got[static_cast<size_t>(v)], f->total[static_cast<size_t>(v)]);
  return fmt::format(
      "<td balign=\"left\" valign=\"top\"><font color=\"{}\"><font point-size=\"9\">{}</font><br/>{}</font></td>",
      kGradColor, head, lines_html(describe(g, view.o)));
}

// A tensor: its name, shape and dtype over its values and, side by side, its gradient.
std::string value_node(const View& view, int v, const Frame* f) {
  const auto& val = view.value(v);
  const bool named = !val.name().empty();
  std::string head = named ? "<b>" + esc(view.name(v)) + "</b>" : "<i>" + esc(view.name(v)) + "</i>";
  head += fmt::format(" <font point-size=\"9\">{} {}</font>", shape_text(val.shape), val.dtype);
  const std::string grad = grad_cell(view, v, f);
  // A frame shows forward values only around its node, where the local derivative uses them.
  const bool near = !f || v == view.step(f->step).output ||
                    std::count(view.step(f->step).inputs.begin(), view.step(f->step).inputs.end(), v) > 0;
  std::string values = val.data.defined() && near ? lines_html(describe(val.data, view.o)) : "";
  if (!grad.empty() && !values.empty()) values = "<font point-size=\"9\" color=\"#666666\">value</font><br/>" + values;
  std::string label = fmt::format(
      "<table border=\"0\" cellborder=\"0\" cellspacing=\"0\" cellpadding=\"1\"><tr><td{}>{}</td></tr>"
      "<tr><td balign=\"left\" valign=\"top\">{}</td>{}</tr></table>",
      grad.empty() ? "" : " colspan=\"3\"", head, values, grad.empty() ? "" : "<td width=\"4\"></td>" + grad);
  std::string fill = "white", extra;
  if (v == view.loss) {
    fill = "#ffb3b3";
    extra = ", peripheries=2";
  } else if (view.is_param(v)) {
    fill = "#ffd8a8";
  } else if (val.leaf) {
    fill = "#cfe2ff";
  }
  return fmt::format("v{} [shape=ellipse, style=filled, fillcolor=\"{}\"{}, label=<{}>];", v, fill, extra, label);
}

std::string step_node(const View& view, int s, const Frame* f) {
  const auto& st = view.step(s);
  std::string rows = "<tr><td><b>" + esc(label_of(st)) + "</b></td></tr>";
  const std::string attrs = attrs_text(st, view.value(st.output).shape);
  if (!attrs.empty()) rows += "<tr><td><font point-size=\"9\">" + esc(attrs) + "</font></td></tr>";
  std::string fill = "#eeeeee", extra;
  if (f && f->step == s) {
    fill = "#ffe066";
    extra = ", penwidth=3";
    rows += "<tr><td align=\"left\">rule: " + esc(named_rule(view, st)) + "</td></tr>";
    for (size_t i = 0; i < st.inputs.size(); ++i) {
      Tensor d = local_derivative(view.tr, st, i);
      if (d.defined())
        rows += equation_rows("local " + local_name(view, st, i),
                              describe(d, view.o));
    }
  } else if (f && f->done[static_cast<size_t>(s)]) {
    fill = "#cccccc";
  } else if (f) {
    fill = "white";
  }
  return fmt::format("s{} [shape=box, style=\"rounded,filled\", fillcolor=\"{}\"{}, label=<{}>];", s, fill, extra,
                     table_html(rows));
}

// External inputs of a box (values drawn outside it that its steps read), in first-use order.
std::vector<int> box_inputs(const View& view, int b) {
  std::vector<int> ins;
  for (int s : view.boxes[static_cast<size_t>(b)].steps)
    for (int v : view.step(s).inputs)
      if (!view.hidden[static_cast<size_t>(v)] && !view.absorbed[static_cast<size_t>(v)] && view.box_of_value(v) != b &&
          std::find(ins.begin(), ins.end(), v) == ins.end())
        ins.push_back(v);
  return ins;
}

std::vector<int> box_outputs(const View& view, int b) {
  std::vector<int> outs;
  for (int s : view.boxes[static_cast<size_t>(b)].steps) {
    const int v = view.step(s).output;
    if (!view.hidden[static_cast<size_t>(v)]) outs.push_back(v);
  }
  return outs;
}

std::string box_node(const View& view, int b) {
  const Box& box = view.boxes[static_cast<size_t>(b)];
  const size_t blocks = box.modules.size() / box.period;
  std::string title = "<b>" + esc(box.modules.front()) + "</b>";
  if (blocks > 1) {
    title = fmt::format("<b>{} \u2026 {}</b><br/>{} identical blocks", esc(box.modules.front()),
                        esc(box.modules.back()), blocks);
    const auto first_block = box.modules.begin() + static_cast<std::ptrdiff_t>(box.period);
    if (box.period > 1) title += " of " + esc(join({box.modules.begin(), first_block}, " \u2192 "));
  }
  std::vector<std::string> ops, params, ins, outs;
  const size_t per_block = box.steps.size() / blocks;
  for (size_t k = 0; k < per_block; ++k) {
    const auto& st = view.step(box.steps[k]);
    ops.push_back(label_of(st));
    for (int v : st.inputs) {
      const std::string p = view.name(v) + " " + shape_text(view.value(v).shape);
      if (view.absorbed[static_cast<size_t>(v)] && std::find(params.begin(), params.end(), p) == params.end())
        params.push_back(p);
    }
  }
  for (int v : box_inputs(view, b)) ins.push_back(shape_text(view.value(v).shape));
  for (int v : box_outputs(view, b)) outs.push_back(shape_text(view.value(v).shape));
  std::string label = title + "<br/><font point-size=\"9\">" + esc(join(ops, " \u2192 ")) + "</font>";
  if (!params.empty())
    label += "<br/>params: " + esc(join(params, ", ")) + (blocks > 1 ? " (per block)" : "");
  label += "<br/>in " + esc(join(ins, ", ")) + " \u2192 out " + esc(join(outs, ", "));
  return fmt::format("m{} [shape=box3d, style=\"filled\", fillcolor=\"#d8f0d8\", margin=\"0.15,0.1\", label=<{}>];",
                     b, label);
}

// Nodes grouped by cluster path, in order of first appearance.
struct Clusters {
  std::map<std::string, std::vector<std::string>> lines;
  std::vector<std::string> order;  // every path and its parents, first appearance first

  void add(const std::string& path, std::string line) {
    for (size_t end = 0; !path.empty() && end != std::string::npos;) {
      end = path.find('/', end + 1);
      std::string p = path.substr(0, end);
      if (std::find(order.begin(), order.end(), p) == order.end()) order.push_back(p);
    }
    lines[path].push_back(std::move(line));
  }

  void emit(std::string& out, const std::string& path, int depth) const {
    const std::string pad(static_cast<size_t>(2 * depth + 2), ' ');
    if (auto it = lines.find(path); it != lines.end())
      for (const auto& l : it->second) out += pad + l + "\n";
    for (size_t k = 0; k < order.size(); ++k) {
      if (order[k].empty() || parent_of(order[k]) != path) continue;
      out += fmt::format("{}subgraph cluster_{} {{\n", pad, k);
      out += fmt::format("{}  label=<<b>{}</b>>; style=\"rounded,dashed\"; color=\"#888888\";\n", pad,
                         esc(last_of(order[k])));
      emit(out, order[k], depth + 1);
      out += pad + "}\n";
    }
  }
};

std::string edge(std::string_view from, std::string_view to, const std::string& attrs = "") {
  return fmt::format("  {} -> {}{};\n", from, to, attrs.empty() ? "" : " [" + attrs + "]");
}

// The label of a gradient on a frame's edge: "upstream dL/dy = ...".
std::string grad_edge_attrs(const View& view, std::string_view role, int v, const Tensor& g) {
  return fmt::format("dir=back, color=\"{}\", fontcolor=\"{}\", penwidth=2, label=<{}>", kHot, kHot,
                     table_html("<tr><td align=\"left\">" + std::string(role) + "</td></tr>" +
                                equation_rows("dL/d" + view.name(v), describe(g, view.o))));
}

std::string step_edges(const View& view, int s, const Frame* f) {
  const auto& st = view.step(s);
  const bool hot = f && f->step == s;
  std::string out;
  for (size_t i = 0; i < st.inputs.size(); ++i) {
    const int v = st.inputs[i];
    std::string attrs;
    if (hot && i < st.downstream.size() && st.downstream[i].defined())
      attrs = grad_edge_attrs(view, "downstream", v, st.downstream[i]);
    else if (hot)
      attrs = "style=dashed, label=<no gradient<br/>needed>";
    out += edge(fmt::format("v{}", v), fmt::format("s{}", s), attrs);
  }
  std::string attrs = hot ? grad_edge_attrs(view, "upstream", st.output, st.upstream) : "";
  out += edge(fmt::format("s{}", s), fmt::format("v{}", st.output), attrs);
  return out;
}

// The whole digraph: the graph's attributes, the node and edge defaults, the
// clusters with their nodes, then the edges.
std::string digraph(const std::string& graph, const std::string& defaults, Clusters& cl, const std::string& edges) {
  std::string out = "digraph tape {\n  graph [" + graph + "];\n" + defaults;
  cl.emit(out, "", 0);
  return out + edges + "}\n";
}

}  // namespace

std::string write_dot(const View& view, const Frame* f, const std::string& title) {
  Clusters cl;
  std::string edges;
  std::vector<char> placed(view.tr.values().size(), 0);
  auto place = [&](int v) {
    if (placed[static_cast<size_t>(v)]) return;
    placed[static_cast<size_t>(v)] = 1;
    cl.add(view.cluster_of_value(v), value_node(view, v, f));
  };
  for (size_t k = 0; k < view.tr.steps().size(); ++k) {
    const int s = static_cast<int>(k);
    const int b = view.box_of[k];
    if (b < 0) {
      for (int v : view.step(s).inputs) place(v);
      cl.add(view.cluster_of_step(s), step_node(view, s, f));
      place(view.step(s).output);
      edges += step_edges(view, s, f);
    } else if (view.boxes[static_cast<size_t>(b)].steps.front() == s) {
      const std::vector<int> ins = box_inputs(view, b);
      for (int v : ins) place(v);
      cl.add(view.cluster_of_step(s), box_node(view, b));
      for (int v : ins) edges += edge(fmt::format("v{}", v), fmt::format("m{}", b));
      for (int v : box_outputs(view, b)) {
        place(v);
        edges += edge(fmt::format("m{}", b), fmt::format("v{}", v));
      }
    }
  }
  std::string graph = fmt::format("rankdir={}, ordering=in, fontname=\"Helvetica\", fontsize=12, nodesep=0.25, "
                                  "ranksep=0.35",
                                  view.o.rankdir);
  if (!title.empty()) {
    std::string lines = esc(title);
    for (size_t at = lines.find('\n'); at != std::string::npos; at = lines.find('\n', at))
      lines.replace(at, 1, "<br/>");
    graph += fmt::format(", labelloc=t, label=<<b>{}</b>>", lines);
  }
  return digraph(graph,
                 "  node [fontname=\"Helvetica\", fontsize=11, margin=\"0.08,0.04\"];\n"
                 "  edge [fontname=\"Helvetica\", fontsize=10, color=\"#555555\", arrowsize=0.7];\n",
                 cl, edges);
}

// ---- The HTML step-through's one picture ---------------------------------------------

namespace {

std::string fill_of(const View& view, int v) {
  if (v == view.loss) return "#ffb3b3\", peripheries=\"2";
  if (view.is_param(v)) return "#ffd8a8";
  return view.value(v).leaf ? "#cfe2ff" : "white";
}

}  // namespace

std::string write_layout_dot(const View& view, const std::string& title) {
  Clusters cl;
  std::string edges;
  std::vector<char> placed(view.tr.values().size(), 0);
  auto place = [&](int v) {
    if (placed[static_cast<size_t>(v)]) return;
    placed[static_cast<size_t>(v)] = 1;
    const auto& val = view.value(v);
    const std::string name =
        val.name().empty() ? "<i>" + esc(view.name(v)) + "</i>" : "<b>" + esc(view.name(v)) + "</b>";
    cl.add(view.cluster_of_value(v),
           fmt::format("v{0} [id=\"v{0}\", shape=ellipse, style=filled, fillcolor=\"{1}\", label=<{2}{3}>];", v,
                       fill_of(view, v), name,
                       val.shape.empty() ? "" : " <font point-size=\"12\">" + shape_text(val.shape) + "</font>"));
  };
  for (size_t k = 0; k < view.tr.steps().size(); ++k) {
    const int s = static_cast<int>(k);
    const auto& st = view.step(s);
    for (int v : st.inputs) place(v);
    std::string label = "<b>" + esc(label_of(st)) + "</b>";
    const std::string attrs = attrs_text(st, view.value(st.output).shape);
    if (!attrs.empty()) label += " <font point-size=\"12\">" + esc(attrs) + "</font>";
    cl.add(view.cluster_of_step(s),
           fmt::format("s{0} [id=\"s{0}\", shape=box, style=\"rounded,filled\", fillcolor=\"#eeeeee\", label=<{1}>];",
                       s, label));
    place(st.output);
    for (size_t i = 0; i < st.inputs.size(); ++i)
      edges += edge(fmt::format("v{}", st.inputs[i]), fmt::format("s{}", s), fmt::format("id=\"e{}_{}\"", s, i));
    edges += edge(fmt::format("s{}", s), fmt::format("v{}", st.output), fmt::format("id=\"e{}_out\"", s));
  }
  std::string graph = fmt::format("id=\"graph\", rankdir={}, ordering=in, fontname=\"Helvetica\", fontsize=16, "
                                  "nodesep=0.2, ranksep=0.22",
                                  view.o.rankdir);
  if (!title.empty()) graph += fmt::format(", labelloc=t, label=<<b>{}</b>>", esc(title));
  return digraph(graph,
                 "  node [fontname=\"Helvetica\", fontsize=14, margin=\"0.06,0.02\", height=0.3, width=0.3];\n"
                 "  edge [color=\"#555555\", arrowsize=0.7];\n",
                 cl, edges);
}

}  // namespace ag::dump

namespace ag {

using namespace dump;  // the helpers above and in internal.hpp

std::string to_dot(const Trace& trace, const DumpOptions& opts) {
  View view(trace, opts);
  return write_dot(view, nullptr, opts.title);
}

}  // namespace ag
