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
    for (size_t i = 0; i < st.inputs.size() && i < st.downstream.size(); ++i) {
      if (!st.downstream[i].defined()) continue;
      const auto v = static_cast<size_t>(st.inputs[i]);
      accumulate(state.grad[v], st.downstream[i]);
      ++state.got[v];
    }
    Frame f = state;
    f.index = static_cast<int>(k);
    f.step = order[k];
    frames.push_back(std::move(f));
    state.done[static_cast<size_t>(order[k])] = 1;
  }
  for (Frame& f : frames) f.total = state.got;
  return frames;
}

std::string frame_title(const Trace& tr, const Frame& f) {
  const auto& st = tr.steps()[static_cast<size_t>(f.step)];
  return fmt::format("backward step {} of {}: {} (step #{}{})", f.index + 1, tr.backward_order().size(),
                     label_of(st), f.step, st.scope.empty() ? "" : ", in " + st.scope);
}

constexpr std::string_view kHtmlStyle = R"(
body { font-family: Helvetica, Arial, sans-serif; margin: 1.5em; color: #222; }
.controls { position: sticky; top: 0; background: #fff; padding: 0.5em 0; border-bottom: 1px solid #ddd; }
.controls button { font-size: 1em; padding: 0.2em 0.8em; }
.controls input { width: 40%; vertical-align: middle; }
.frame { display: grid; grid-template-columns: minmax(16em, 26%) 1fr; gap: 1em; align-items: start; }
.frame[data-layout=wide] { grid-template-columns: 1fr; }
.frame h2 { font-size: 1.1em; margin: 0.8em 0 0.3em; }
.frame ul { margin: 0.2em 0; }
.grad { color: #b03030; }
code { white-space: pre; }
.picture svg { width: 100%; height: auto; max-height: calc(100vh - 5em); cursor: zoom-in; }
.picture.full svg { width: auto; max-height: none; cursor: zoom-out; }
.notice { background: #fff3cd; padding: 0.5em; border: 1px solid #e0c060; }
)";

constexpr std::string_view kHtmlScript = R"(
(function () {
  var frames = document.querySelectorAll('.frame');
  var slider = document.getElementById('slider');
  var counter = document.getElementById('counter');
  var current = 0;
  function show(k) {
    if (!frames.length) return;
    current = Math.max(0, Math.min(frames.length - 1, k));
    for (var j = 0; j < frames.length; ++j) frames[j].style.display = j === current ? '' : 'none';
    slider.value = current;
    counter.textContent = 'step ' + (current + 1) + ' of ' + frames.length;
    if (history.replaceState) history.replaceState(null, '', '#step-' + (current + 1));
  }
  document.getElementById('prev').onclick = function () { show(current - 1); };
  document.getElementById('next').onclick = function () { show(current + 1); };
  slider.oninput = function () { show(parseInt(slider.value, 10)); };
  document.addEventListener('keydown', function (e) {
    if (e.key === 'ArrowLeft') show(current - 1);
    if (e.key === 'ArrowRight') show(current + 1);
  });
  var pictures = document.querySelectorAll('.picture');
  for (var p = 0; p < pictures.length; ++p)
    pictures[p].onclick = function () { this.classList.toggle('full'); };
  var start = /^#step-(\d+)$/.exec(location.hash);
  show(start ? parseInt(start[1], 10) - 1 : 0);
})();
)";

std::string grad_span(const View& view, std::string_view role, int v, const Tensor& g) {
  return fmt::format("<span class=\"grad\" data-role=\"{}\" data-value=\"{}\">dL/d{} = <code>{}</code></span>", role,
                     v, esc(view.name(v)), esc(join(describe(g, view.o), "\n")));
}

// What the frame's step did, in words: upstream, local rule, downstream.
std::string frame_caption(const View& view, const Frame& f) {
  const auto& st = view.step(f.step);
  std::string out = "<h2>" + esc(frame_title(view.tr, f)) + "</h2>\n<ul>\n";
  out += "<li>upstream, arriving from the loss's side: " + grad_span(view, "upstream", st.output, st.upstream) +
         "</li>\n";
  out += "<li>rule: <code>" + esc(rule_text(st)) + "</code></li>\n";
  std::vector<std::string> locals;
  for (size_t i = 0; i < st.inputs.size(); ++i) {
    Tensor d = local_derivative(view.tr, st, i);
    if (d.defined())
      locals.push_back(esc(local_name(view, st, i)) + " = <code>" + esc(join(describe(d, view.o), "\n")) + "</code>");
  }
  if (!locals.empty()) out += "<li>local derivatives: " + join(locals, "; ") + "</li>\n";
  for (size_t i = 0; i < st.inputs.size(); ++i) {
    const bool has = i < st.downstream.size() && st.downstream[i].defined();
    out += "<li>downstream to input " + std::to_string(i) + ": ";
    out += has ? grad_span(view, "downstream", st.inputs[i], st.downstream[i])
               : "<code>" + esc(view.name(st.inputs[i])) + "</code> needs no gradient";
    out += "</li>\n";
  }
  return out + "</ul>\n";
}

// The leaves' final gradients, as the engine left them.
std::string leaf_table(const View& view) {
  std::string out = "<h2>Gradients of the leaves after backward</h2>\n<ul>\n";
  for (size_t v = 0; v < view.tr.values().size(); ++v) {
    const auto& val = view.tr.values()[v];
    if (val.leaf && val.grad.defined())
      out += "<li>" + grad_span(view, "leaf", static_cast<int>(v), val.grad) + "</li>\n";
  }
  return out + "</ul>\n";
}

std::string frame_picture(const std::string& dot, bool have_dot) {
  if (!have_dot) return "<pre>" + esc(dot) + "</pre>";
  const std::string svg = render_svg(dot);
  const size_t start = svg.find("<svg");
  return start == std::string::npos ? svg : svg.substr(start);
}

// "wide" for a picture wider than tall (drawn under its caption), else "tall" (beside it).
std::string layout_of(const std::string& picture) {
  auto attr = [&](const std::string& name) {
    const size_t at = picture.find(" " + name + "=\"");
    return at == std::string::npos ? 0.0 : std::atof(picture.c_str() + at + name.size() + 3);
  };
  return attr("width") > attr("height") ? "wide" : "tall";
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
    const std::string title = o.title.empty() ? frame_title(trace, f) : o.title + "\n" + frame_title(trace, f);
    out.push_back(write_dot(view, &f, title));
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
  out += "<h1>" + esc(title) + "</h1>\n";
  out += "<p>Each frame is one step of backward, in the order the engine ran them. The yellow node runs its "
         "backward rule: the upstream gradient dL/dy arriving from the loss, times the node's local derivative, "
         "gives the downstream gradients dL/dx sent to its inputs (red edges). Grey nodes are done; each tensor "
         "shows the gradient it has received so far. Keys: left and right arrows; click a picture to zoom.</p>\n";
  if (frames.empty())
    out += "<p class=\"notice\">The trace holds no backward step: call backward() while the Trace is alive.</p>\n";
  if (!have_dot)
    out += "<p class=\"notice\">Graphviz is not installed, so the frames are shown as DOT text. Install the Debian "
           "package graphviz (sudo apt-get install graphviz) and write this page again to see pictures.</p>\n";
  out += fmt::format(
      "<div class=\"controls\"><button id=\"prev\">&#9664; previous</button> <input type=\"range\" id=\"slider\" "
      "min=\"0\" max=\"{}\" value=\"0\"> <button id=\"next\">next &#9654;</button> <span id=\"counter\"></span>"
      "</div>\n",
      frames.empty() ? 0 : frames.size() - 1);
  for (const Frame& f : frames) {
    const std::string picture = frame_picture(write_dot(view, &f, frame_title(trace, f)), have_dot);
    out += fmt::format("<section class=\"frame\" id=\"frame-{}\" data-step=\"{}\" data-op=\"{}\" data-layout=\"{}\">\n",
                       f.index, f.step, esc(label_of(view.step(f.step))), layout_of(picture));
    out += "<div class=\"caption\">" + frame_caption(view, f) + "</div>\n";
    out += "<div class=\"picture\">" + picture + "</div>\n</section>\n";
  }
  out += leaf_table(view);
  out += "<script>" + std::string(kHtmlScript) + "</script>\n</body>\n</html>\n";
  return out;
}

}  // namespace ag
