// Draws each ```mermaid block of an issue page as SVG, offline: mermaid.min.js is copied beside
// this file from node_modules. `window.faultlineCharts` settles once every chart is drawn (the
// browser test awaits it instead of sleeping); a chart Mermaid cannot parse rejects it, and the
// error shows in the console.
"use strict";
mermaid.initialize({
  startOnLoad: false,
  securityLevel: "strict",
  theme: "default",
  themeVariables: { xyChart: { plotColorPalette: "#54aeff" } },
});
window.faultlineCharts = mermaid
  .run({ querySelector: "pre.mermaid" })
  .then(() => document.querySelectorAll("pre.mermaid svg").length);
