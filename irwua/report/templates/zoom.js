// Diagrams fit their frame when the page loads (a folded one when it is opened); drag to pan, Ctrl + wheel to zoom around the
// pointer, and each diagram's buttons fit, zoom in, zoom out or show it at its own size.
(function () {
  "use strict";
  var STEP = 1.25;
  function setUp(frame) {
    var svg = frame.querySelector("svg");
    if (!svg) { return; }
    var natural = svg.getBoundingClientRect();
    var width = natural.width, height = natural.height, scale = 1;
    if (!width || !height) { return; }
    svg.style.maxWidth = "none";
    function apply() {
      svg.style.width = (width * scale) + "px";
      svg.style.height = (height * scale) + "px";
      frame.setAttribute("data-scale", scale.toFixed(4));
    }
    function fit() {
      var room = Math.min(window.innerHeight * 0.8, height + 16);
      scale = Math.min((frame.clientWidth - 16) / width, (room - 16) / height, 1);
      apply();
    }
    function zoom(factor, x, y) {
      var left = (frame.scrollLeft + x) / scale, top = (frame.scrollTop + y) / scale;
      scale = Math.min(Math.max(scale * factor, 0.02), 8);
      apply();
      frame.scrollLeft = left * scale - x;
      frame.scrollTop = top * scale - y;
    }
    var actions = {
      fit: fit,
      "in": function () { zoom(STEP, frame.clientWidth / 2, frame.clientHeight / 2); },
      out: function () { zoom(1 / STEP, frame.clientWidth / 2, frame.clientHeight / 2); },
      actual: function () { scale = 1; apply(); }
    };
    var tools = frame.previousElementSibling;
    if (tools && tools.classList.contains("diagram-tools")) {
      tools.querySelectorAll("button[data-zoom]").forEach(function (button) {
        button.addEventListener("click", actions[button.getAttribute("data-zoom")]);
      });
    }
    frame.addEventListener("wheel", function (event) {
      if (!event.ctrlKey) { return; }
      event.preventDefault();
      var box = frame.getBoundingClientRect();
      zoom(event.deltaY < 0 ? STEP : 1 / STEP, event.clientX - box.left, event.clientY - box.top);
    }, { passive: false });
    var drag = null;
    frame.addEventListener("mousedown", function (event) {
      drag = { x: event.clientX, y: event.clientY, left: frame.scrollLeft, top: frame.scrollTop };
      frame.classList.add("dragging");
    });
    window.addEventListener("mousemove", function (event) {
      if (!drag) { return; }
      frame.scrollLeft = drag.left - (event.clientX - drag.x);
      frame.scrollTop = drag.top - (event.clientY - drag.y);
    });
    window.addEventListener("mouseup", function () {
      drag = null;
      frame.classList.remove("dragging");
    });
    fit();
  }
  document.querySelectorAll(".diagram").forEach(function (frame) {
    var folded = frame.closest("details");
    if (folded && !folded.open) {  // sized once it is opened: a closed frame has no size
      folded.addEventListener("toggle", function () { setUp(frame); }, { once: true });
    } else {
      setUp(frame);
    }
  });
}());
