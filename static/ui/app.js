// PromptOpt's web UI behaviour: charts from server-built configurations, copy buttons, confirmations.
// No inline scripts anywhere (the content security policy forbids them): pages carry data, this file acts.
"use strict";

(function () {
  const charts = new Map();

  // A <canvas data-chart="ID"> is drawn from the Chart.js configuration in <script type="application/json" id="ID">.
  function drawCharts(root) {
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      const source = document.getElementById(canvas.dataset.chart);
      if (!source) return;
      if (typeof window.Chart === "undefined") {
        canvas.replaceWith(Object.assign(document.createElement("p"), {
          className: "muted",
          textContent: "Charts need Chart.js, which `make` installs with npm; the figures are in the tables.",
        }));
        return;
      }
      const previous = charts.get(canvas.dataset.chart);
      if (previous) previous.destroy();
      const config = JSON.parse(source.textContent);
      config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
      charts.set(canvas.dataset.chart, new window.Chart(canvas, config));
    });
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const target = document.getElementById(button.dataset.copy);
    if (!target || !navigator.clipboard) return;
    navigator.clipboard.writeText(target.textContent.trim()).then(function () {
      button.textContent = "Copied";
    });
  });

  document.addEventListener("submit", function (event) {
    const message = event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  // After htmx replaces part of the page (the live run page every 2 s), draw its new canvases. Not the
  // event's target: with an outerHTML swap that is the element just removed from the page.
  document.addEventListener("htmx:afterSettle", function () { drawCharts(document); });
})();
