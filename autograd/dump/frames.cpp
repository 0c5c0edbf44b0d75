// Graph dumps: backward, one frame per step (the gradients each value has
// received so far), as DOT graphs and as a self-contained HTML step-through.
#include "autograd/dump/internal.hpp"

#include <cstdlib>

namespace ag::dump {

namespace {

void accumulate(Tensor& into, const Tensor& g) {
  NoGradGuard off;
  into = into.defined() ? into + g : g;
}

// What each backward step leaves behind: every value's gradient so far, after the step's rule ran.
std::vector<Frame> make_frames(const Trace& tr) {
  const size_t nv = tr.values().size();
  Frame state;
  state.grad.resize(nv);
  state.got.assign(nv, 0);
  state.done.assign(tr.steps().size(), 0);
  std::vector<Frame> frames;
  const auto& order = tr.backward_order();
  for (size_t k = 0; k < order.size(); ++k) {
    const auto& st = tr.steps()[static_cast<size_t>(order[k])];
    const auto out = static_cast<size_t>(st.output);
    if (!state.grad[out].defined()) {  // a root: backward seeded its gradient
      state.grad[out] = st.upstream;
      ++state.got[out];
    }
    std::vector<Tensor> before(st.inputs.size());
    for (size_t i = 0; i < st.inputs.size() && i < st.downstream.size(); ++i) {
      if (!st.downstream[i].defined()) continue;
      const auto v = static_cast<size_t>(st.inputs[i]);
      before[i] = state.grad[v];
      accumulate(state.grad[v], st.downstream[i]);
      ++state.got[v];
    }
    Frame f = state;
    f.index = static_cast<int>(k);
    f.step = order[k];
    f.before = std::move(before);
    frames.push_back(std::move(f));
    state.done[static_cast<size_t>(order[k])] = 1;
  }
  for (Frame& f : frames) f.total = state.got;
  return frames;
}

// "backward step 3 of 3: mul → L", then where the forward pass recorded it: "forward op 3 of 3, in fc1".
std::string frame_title(const View& view, const Frame& f) {
  const auto& st = view.step(f.step);
  return fmt::format("backward step {} of {}: {} \u2192 {}", f.index + 1, view.tr.backward_order().size(),
                     label_of(st), view.name(st.output));
}
std::string frame_origin(const View& view, const Frame& f) {
  const auto& st = view.step(f.step);
  return fmt::format("forward op {} of {}{}", f.step + 1, view.tr.steps().size(),
                     st.scope.empty() ? "" : ", in " + st.scope);
}

constexpr std::string_view kHtmlStyle = R"(
html, body { height: 100%; margin: 0; }
body { font: 15px/1.45 Helvetica, Arial, sans-serif; color: #222; display: flex; flex-direction: column; }
header { padding: 0.4em 1em; border-bottom: 1px solid #ccc; background: #fafafa; }
header h1 { font-size: 1.15em; margin: 0 0 0.25em; }
.controls button { font-size: 1em; padding: 0.15em 0.8em; }
.controls input { width: 30em; max-width: 28%; vertical-align: middle; }
#counter { margin-left: 0.5em; font-weight: bold; }
main { flex: 1; min-height: 0; display: grid; grid-template-columns: minmax(28em, 42%) 1fr; }
.side { overflow: auto; padding: 0 1em 1em; border-right: 1px solid #ccc; }
.side h2 { font-size: 1.1em; margin: 0.6em 0 0; }
.frame .origin { color: #666; margin: 0 0 0.4em; font-size: 0.9em; }
.block { border-left: 4px solid #bbb; padding: 0.1em 0 0.3em 0.6em; margin: 0.5em 0; }
.block h3 { font-size: 0.95em; margin: 0; text-transform: uppercase; letter-spacing: 0.04em; color: #555; }
.block.upstream { border-color: #c0392b; }
.block.local { border-color: #e0b000; }
.block.downstream { border-color: #c0392b; }
.block p { margin: 0.2em 0; }
.grad { color: #b03030; display: block; margin: 0.2em 0; }
code { font: 12.5px/1.35 Menlo, Consolas, monospace; white-space: pre; }
.grad code, .tensor code { display: block; overflow-x: auto; padding: 0.1em 0 0.1em 1em; }
.sum td { vertical-align: middle; padding: 0.1em 0.3em; color: #555; }
.sum code { display: inline-block; padding: 0; }
.grad code.inline, .tensor code.inline { display: inline; padding: 0; }
.note { color: #555; font-size: 0.92em; }
.picture { min-width: 0; min-height: 0; padding: 0.5em; display: flex; align-items: center; justify-content: center; }
.picture svg { width: 100%; height: 100%; display: block; }
.picture pre { max-width: 100%; max-height: 100%; overflow: auto; margin: 0; }
.picture g.node.done > path, .picture g.node.done > polygon { fill: #c8c8c8; }
.picture g.node.todo > path, .picture g.node.todo > polygon { fill: #ffffff; }
.picture g.node.hot > path, .picture g.node.hot > polygon { fill: #ffe066; stroke: #c0392b; stroke-width: 3px; }
.picture g.node.io > ellipse { stroke: #c0392b; stroke-width: 3px; }
.picture g.node.full > ellipse:last-of-type { stroke: #b03030; stroke-width: 2px; }
.picture g.node.partial > ellipse:last-of-type { stroke: #b03030; stroke-width: 2px; stroke-dasharray: 5 3; }
.picture g.edge.hot > path { stroke: #c0392b; stroke-width: 3px; }
.picture g.edge.hot > polygon { stroke: #c0392b; fill: #c0392b; }
.picture g.edge.none > path { stroke-dasharray: 4 3; }
.legend { font-size: 0.9em; color: #444; }
.legend span { padding: 0 0.3em; border: 1px solid #999; border-radius: 3px; white-space: nowrap; }
.notice { background: #fff3cd; padding: 0.5em; border: 1px solid #e0c060; }
#selftest { white-space: pre-wrap; }
@media (max-width: 900px) { body { display: block; } main { display: block; } .picture { height: 90vh; } }
)";

constexpr std::string_view kHtmlScript = R"(
(function () {
  var frames = document.querySelectorAll('.frame');
  var slider = document.getElementById('slider');
  var counter = document.getElementById('counter');
  var svg = document.querySelector('.picture svg');
  var current = 0;
  function each(list, f) { for (var i = 0; i < list.length; ++i) f(list[i]); }
  function mark(ids, cls) {
    if (!svg || !ids) return;
    each(ids.split(' '), function (id) { var e = id && svg.querySelector('#' + id); if (e) e.classList.add(cls); });
  }
  function show(k) {
    if (!frames.length) return;
    current = Math.max(0, Math.min(frames.length - 1, k));
    for (var j = 0; j < frames.length; ++j) frames[j].style.display = j === current ? '' : 'none';
    slider.value = current;
    counter.textContent = 'backward step ' + (current + 1) + ' of ' + frames.length;
    if (svg) {
      each(svg.querySelectorAll('.hot, .done, .todo, .io, .full, .partial, .none'), function (e) {
        e.classList.remove('hot', 'done', 'todo', 'io', 'full', 'partial', 'none');
      });
      var d = frames[current].dataset;
      mark(d.todo, 'todo'); mark(d.done, 'done'); mark(d.hot, 'hot'); mark(d.io, 'io');
      mark(d.full, 'full'); mark(d.partial, 'partial'); mark(d.edges, 'hot'); mark(d.none, 'none');
    }
    if (history.replaceState && location.hash !== '#selftest')
      history.replaceState(null, '', '#step-' + (current + 1));
  }
  document.getElementById('prev').onclick = function () { show(current - 1); };
  document.getElementById('next').onclick = function () { show(current + 1); };
  slider.oninput = function () { show(parseInt(slider.value, 10)); };
  document.addEventListener('keydown', function (e) {
    if (e.key === 'ArrowLeft') show(current - 1);
    if (e.key === 'ArrowRight') show(current + 1);
  });
  // #selftest: steps through every frame and checks what a learner needs to see,
  // writing PASS or FAIL lines into #selftest (tests/backward_html_test.py reads them).
  function selftest() {
    var problems = [];
    if (!svg) problems.push('no picture');
    for (var k = 0; k < frames.length && svg; ++k) {
      show(k);
      var f = frames[k], d = f.dataset, at = 'frame ' + (k + 1) + ' (' + d.op + '): ';
      var hot = svg.querySelector('#' + d.hot);
      if (!hot || !hot.classList.contains('hot')) { problems.push(at + 'no highlighted node ' + d.hot); continue; }
      var r = hot.getBoundingClientRect();
      if (r.width <= 0 || r.left < 0 || r.top < 0 || r.right > window.innerWidth || r.bottom > window.innerHeight)
        problems.push(at + 'highlighted node at ' + [r.left, r.top, r.right, r.bottom].map(Math.round) +
                      ' is not inside the viewport ' + window.innerWidth + 'x' + window.innerHeight);
      var shape = hot.querySelector('path, polygon');
      if (!shape || getComputedStyle(shape).fill !== 'rgb(255, 224, 102)') problems.push(at + 'the node is not yellow');
      var text = hot.querySelector('text');
      var px = text ? parseFloat(text.getAttribute('font-size')) * svg.getScreenCTM().a : 0;
      if (px < 12) problems.push(at + 'node text is ' + px.toFixed(1) + ' px, under 12 px');
      var up = f.querySelector('.block.upstream .grad[data-role=upstream] code');
      if (!up || !up.textContent.trim()) problems.push(at + 'no upstream gradient');
      var rule = f.querySelector('.block.local .rule'), with_ = f.querySelector('.block.local .with');
      var numbers = f.querySelectorAll('.block.local .tensor, .block.local .custom');
      if (!rule || !rule.textContent.trim() || !with_ || !numbers.length) problems.push(at + 'no local derivative');
      var inputs = f.querySelectorAll('.block.downstream .input');
      if (inputs.length !== parseInt(d.inputs, 10)) problems.push(at + inputs.length + ' downstream entries for ' +
                                                                  d.inputs + ' inputs');
      each(inputs, function (e) { if (!e.textContent.trim()) problems.push(at + 'an empty downstream entry'); });
    }
    if (!frames.length) problems.push('no frames');
    var out = document.getElementById('selftest');
    out.textContent = problems.length ? 'FAIL\n' + problems.join('\n') : 'PASS ' + frames.length + ' frames';
    show(0);
  }
  if (location.hash === '#selftest') { selftest(); return; }
  var start = /^#step-(\d+)$/.exec(location.hash);
  show(start ? parseInt(start[1], 10) - 1 : 0);
})();
)";

// Rows of values for the caption: all of a tensor up to 10 rows of 8, else its first rows and columns.
std::string values_code(const View& view, const Tensor& t) {
  if (t.dim() == 0) return "<code class=\"inline\">" + esc(join(describe_rows(t, view.o.digits, 1, 1), "")) + "</code>";
  return "<code>" + esc(join(describe_rows(t, view.o.digits, 10, 8), "\n")) + "</code>";
}

// " (3, 2)", or "" for a scalar.
std::string shape_suffix(const Shape& s) { return s.empty() ? "" : " " + shape_text(s); }

std::string grad_span(const View& view, std::string_view role, int v, const Tensor& g) {
  return fmt::format("<span class=\"grad\" data-role=\"{}\" data-value=\"{}\">dL/d{}{} = {}</span>", role, v,
                     esc(view.name(v)), shape_suffix(g.shape()), values_code(view, g));
}

// "x (3, 2)"
std::string named_shape(const View& view, int v) {
  return view.name(v) + shape_suffix(view.value(v).shape);
}

// The local derivative: the rule with the step's tensors, and the numbers it uses.
std::string local_block(const View& view, const Frame& f) {
  const auto& st = view.step(f.step);
  std::string out = "<div class=\"block local\"><h3>Local derivative</h3>\n";
  out += "<p class=\"rule\">rule: <code>" + esc(named_rule(view, st)) + "</code></p>\n";
  std::vector<std::string> with = {"d" + view.name(st.output) + shape_suffix(st.upstream.shape())};
  for (int v : st.inputs) with.push_back(named_shape(view, v));
  const std::string last = with.back();
  with.pop_back();
  out += "<p class=\"with\">with " + esc(join(with, ", ") + " and " + last) + "</p>\n";
  if (st.op == Op::custom) {
    out += "<p class=\"note custom\">A user-defined op: its backward is the user's code, which a dump never runs a second "
           "time, so only its result (downstream) is shown.</p>\n";
    return out + "</div>\n";
  }
  const Shape& y = view.value(st.output).shape;
  const std::string family(op_info(st.op).family);
  const bool uses_operands = family == "matmul" || family == "conv";
  for (size_t i = 0; i < st.inputs.size(); ++i) {
    const int v = st.inputs[i];
    if (uses_operands) {  // dx = dy · Wᵀ: the numbers are the other operands
      const Tensor& val = view.value(v).data;
      if (val.defined())
        out += "<div class=\"tensor\">" + esc(named_shape(view, v)) + " = " + values_code(view, val) + "</div>\n";
      continue;
    }
    Tensor d = local_derivative(view.tr, st, i);
    if (!d.defined()) continue;
    const bool exact = (family == "elementwise" && y == view.value(v).shape) || shape_numel(y) == 1;
    out += "<div class=\"tensor\">" + esc(local_name(view, st, i)) + " = " + values_code(view, d) + "</div>\n";
    if (!exact)
      out += "<p class=\"note\">(what d" + esc(view.name(v)) + " would be if every entry of d" +
             esc(view.name(st.output)) + " were 1: this op only moves or adds up the entries of d" +
             esc(view.name(st.output)) + ")</p>\n";
  }
  if (uses_operands)
    out += "<p class=\"note\">the rule multiplies d" + esc(view.name(st.output)) +
           " by these forward values (transposed), so each gradient has its input's shape</p>\n";
  return out + "</div>\n";
}

// What input i received, and for a value used more than once the sum of its contributions so far.
std::string downstream_entry(const View& view, const Frame& f, size_t i) {
  const auto& st = view.step(f.step);
  const int v = st.inputs[i];
  const bool has = i < st.downstream.size() && st.downstream[i].defined();
  std::string out = "<div class=\"input\">";
  if (!has)
    return out + "<code>" + esc(view.name(v)) + "</code> needs no gradient (nothing it depends on is learned)</div>\n";
  out += grad_span(view, "downstream", v, st.downstream[i]);
  const int total = f.total[static_cast<size_t>(v)];
  if (total > 1) {
    const Tensor& before = f.before[i];
    const int got = f.got[static_cast<size_t>(v)];
    const std::string name = esc(view.name(v));
    if (!before.defined()) {
      out += fmt::format("<p class=\"branch\">{} is used {} times: this is its first contribution; the others arrive "
                         "in later steps and are added up.</p>",
                         name, total);
    } else {
      Tensor now;
      {
        NoGradGuard off;
        now = before + st.downstream[i];
      }
      const std::string count = fmt::format("{} of {} contributions{}", got, total, got == total ? ", complete" : "");
      if (now.numel() == 1)
        out += fmt::format("<p class=\"branch\">{} gets {} + {} = {}, {}</p>", name,
                           num(before.value_at(0), view.o.digits), num(st.downstream[i].value_at(0), view.o.digits),
                           num(now.value_at(0), view.o.digits), count);
      else
        out += fmt::format("<div class=\"branch\">{} gets the sum of its gradients so far ({}):<table class=\"sum\">"
                           "<tr><td></td><td>{}</td><td>(before)</td></tr><tr><td>+</td><td>{}</td><td>(this step)"
                           "</td></tr><tr><td>=</td><td>{}</td><td></td></tr></table></div>",
                           name, count, values_code(view, before), values_code(view, st.downstream[i]),
                           values_code(view, now));
    }
  }
  return out + "</div>\n";
}

// What the frame's step did, in words: upstream, local derivative, downstream.
std::string frame_caption(const View& view, const Frame& f) {
  const auto& st = view.step(f.step);
  std::string out = "<h2>" + esc(frame_title(view, f)) + "</h2>\n";
  out += "<p class=\"origin\">" + esc(frame_origin(view, f)) + "</p>\n";
  out += "<div class=\"block upstream\"><h3>Upstream</h3>\n<p>the gradient of the loss arriving at its output "
         "(from the loss's side):</p>\n" +
         grad_span(view, "upstream", st.output, st.upstream) + "\n</div>\n";
  out += local_block(view, f);
  out += "<div class=\"block downstream\"><h3>Downstream</h3>\n<p>upstream \u00d7 local, sent to each input:</p>\n";
  for (size_t i = 0; i < st.inputs.size(); ++i) out += downstream_entry(view, f, i);
  return out + "</div>\n";
}

// The ids the page's script restyles for frame f (see kHtmlScript).
std::string frame_data(const View& view, const Frame& f) {
  const auto& st = view.step(f.step);
  std::vector<std::string> done, todo, io, full, partial, edges, none;
  for (size_t s = 0; s < view.tr.steps().size(); ++s)
    if (static_cast<int>(s) != f.step) (f.done[s] ? done : todo).push_back(fmt::format("s{}", s));
  io.push_back(fmt::format("v{}", st.output));
  for (size_t i = 0; i < st.inputs.size(); ++i) {
    io.push_back(fmt::format("v{}", st.inputs[i]));
    const bool has = i < st.downstream.size() && st.downstream[i].defined();
    (has ? edges : none).push_back(fmt::format("e{}_{}", f.step, i));
  }
  edges.push_back(fmt::format("e{}_out", f.step));
  for (size_t v = 0; v < f.got.size(); ++v) {
    if (!f.got[v]) continue;
    (f.got[v] < f.total[v] ? partial : full).push_back(fmt::format("v{}", v));
  }
  return fmt::format(" data-hot=\"s{}\" data-done=\"{}\" data-todo=\"{}\" data-io=\"{}\" data-full=\"{}\" "
                     "data-partial=\"{}\" data-edges=\"{}\" data-none=\"{}\" data-inputs=\"{}\"",
                     f.step, join(done, " "), join(todo, " "), join(io, " "), join(full, " "), join(partial, " "),
                     join(edges, " "), join(none, " "), st.inputs.size());
}

// The leaves' final gradients, as the engine left them.
std::string leaf_table(const View& view) {
  std::string out = "<h2>Gradients of the leaves after backward</h2>\n";
  for (size_t v = 0; v < view.tr.values().size(); ++v) {
    const auto& val = view.tr.values()[v];
    if (val.leaf && val.grad.defined()) out += grad_span(view, "leaf", static_cast<int>(v), val.grad) + "\n";
  }
  return out;
}

// The page's one picture: an inline SVG scaled to its pane (up to 1.5 times its natural size), or DOT text.
std::string picture(const std::string& dot, bool have_dot) {
  if (!have_dot) return "<pre>" + esc(dot) + "</pre>";
  std::string svg = render_svg(dot);
  const size_t start = svg.find("<svg");
  if (start == std::string::npos) return svg;
  svg = svg.substr(start);
  const size_t tag_end = svg.find('>');
  std::string tag = svg.substr(0, tag_end);
  double w = 0, h = 0;
  for (const char* attr : {"width", "height"}) {  // drop the fixed size; CSS sizes it, the viewBox keeps its shape
    const std::string key = std::string(" ") + attr + "=\"";
    const size_t at = tag.find(key);
    if (at == std::string::npos) continue;
    const size_t close = tag.find('"', at + key.size());
    (std::string(attr) == "width" ? w : h) = std::atof(tag.c_str() + at + key.size()) * 4.0 / 3.0;  // pt -> px
    tag.erase(at, close + 1 - at);
  }
  if (w > 0 && h > 0) tag += fmt::format(" style=\"max-width: {:.0f}px; max-height: {:.0f}px\"", 1.5 * w, 1.5 * h);
  return tag + svg.substr(tag_end);
}

}  // namespace

}  // namespace ag::dump

namespace ag {

using namespace dump;  // the helpers above and in internal.hpp

std::vector<std::string> backward_frames(const Trace& trace, const DumpOptions& opts) {
  DumpOptions o = opts;
  o.fold = false;  // a frame shows every node
  View view(trace, o);
  std::vector<std::string> out;
  for (const Frame& f : make_frames(trace)) {
    const std::string title = frame_title(view, f) + " (" + frame_origin(view, f) + ")";
    out.push_back(write_dot(view, &f, o.title.empty() ? title : o.title + "\n" + title));
  }
  return out;
}

std::string backward_html(const Trace& trace, const DumpOptions& opts) {
  DumpOptions o = opts;
  o.fold = false;
  View view(trace, o);
  const std::vector<Frame> frames = make_frames(trace);
  const bool have_dot = !find_dot().empty();
  const std::string title = o.title.empty() ? "Backward, step by step" : o.title;
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + esc(title) +
                    "</title>\n<style>" + std::string(kHtmlStyle) + "</style>\n</head>\n<body>\n";
  out += "<header>\n<h1>" + esc(title) + "</h1>\n";
  out += fmt::format(
      "<div class=\"controls\"><button id=\"prev\">&#9664; previous</button> <input type=\"range\" id=\"slider\" "
      "min=\"0\" max=\"{}\" value=\"0\"> <button id=\"next\">next &#9654;</button> <span id=\"counter\"></span> "
      "<span class=\"legend\">keys &larr; &rarr; &nbsp; <span style=\"background:#ffe066\">running</span> "
      "<span style=\"background:#c8c8c8\">done</span> <span style=\"border-color:#b03030\">has its gradient</span> "
      "<span style=\"border:1px dashed #b03030\">part of it</span></span></div>\n</header>\n",
      frames.empty() ? 0 : frames.size() - 1);
  out += "<main>\n<div class=\"side\">\n";
  out += "<details><summary>How to read this page</summary><p>Each frame is one step of backward, in the order "
         "the engine ran them. The yellow node runs its backward rule: the upstream gradient dL/dy arriving from "
         "the loss, times the node's local derivative, gives the downstream gradients dL/dx sent to its inputs "
         "(the red edges). Grey nodes are done. A tensor with a red border has all its gradient, a dashed one part "
         "of it: a tensor used twice adds up what arrives from each use.</p></details>\n";
  if (frames.empty())
    out += "<p class=\"notice\">The trace holds no backward step: call backward() while the Trace is alive.</p>\n";
  if (!have_dot)
    out += "<p class=\"notice\">Graphviz is not installed, so the graph is shown as DOT text. Install the Debian "
           "package graphviz (sudo apt-get install graphviz) and write this page again to see it drawn.</p>\n";
  for (const Frame& f : frames) {
    out += fmt::format("<section class=\"frame\" id=\"frame-{}\" data-step=\"{}\" data-op=\"{}\"{}>\n", f.index,
                       f.step, esc(label_of(view.step(f.step))), frame_data(view, f));
    out += frame_caption(view, f) + "</section>\n";
  }
  out += leaf_table(view);
  out += "<pre id=\"selftest\"></pre>\n</div>\n";
  out += "<div class=\"picture\">" + picture(write_layout_dot(view, ""), have_dot) + "</div>\n</main>\n";
  out += "<script>" + std::string(kHtmlScript) + "</script>\n</body>\n</html>\n";
  return out;
}

}  // namespace ag
