// Small SVG charts for the dashboard: horizontal bars, grouped vertical bars. No library:
// the servers are offline, and these two shapes are all the dashboard needs.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const PALETTE = ["#b4232a", "#2b6cb0", "#2f855a", "#b7791f", "#6b46c1", "#c05621", "#319795",
  "#718096", "#d53f8c", "#2c5282"];

function svgEl(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function formatNumber(value, percent) {
  if (percent) return `${(value * 100).toFixed(1)}%`;
  return Number(value).toLocaleString("zh-CN");
}

// bars: [{label, value, title?}] drawn as labelled horizontal bars, largest first.
function horizontalBars(bars, { percent = false, max = null, color = PALETTE[0] } = {}) {
  const rowHeight = 22;
  const labelWidth = 210;
  const width = 560;
  const height = Math.max(rowHeight * bars.length + 8, 30);
  const svg = svgEl("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img" });
  if (!bars.length) {
    svg.append(svgEl("text", { x: 8, y: 20 }, "暂无数据"));
    return svg;
  }
  const top = max !== null ? max : Math.max(...bars.map((b) => b.value), 1);
  const barSpace = width - labelWidth - 70;
  bars.forEach((bar, i) => {
    const y = 4 + i * rowHeight;
    const w = top > 0 ? Math.max(1, (bar.value / top) * barSpace) : 1;
    const label = bar.label.length > 16 ? `${bar.label.slice(0, 15)}…` : bar.label;
    svg.append(svgEl("text", { x: labelWidth - 6, y: y + 14, "text-anchor": "end" }, label));
    const rect = svgEl("rect", { x: labelWidth, y: y + 3, width: w, height: rowHeight - 8,
      fill: bar.color || color });
    rect.append(svgEl("title", {}, `${bar.title || bar.label}: ${formatNumber(bar.value, percent)}`));
    svg.append(rect);
    svg.append(svgEl("text", { x: labelWidth + w + 6, y: y + 14 }, formatNumber(bar.value, percent)));
  });
  return svg;
}

// groups: [{label, values: {series: number}}]; one bar per series within each group,
// stacked, with a legend below. Used for daily volume by category.
function stackedColumns(groups, series) {
  const width = 1100;
  const height = 240;
  const left = 50;
  const bottom = 40;
  const svg = svgEl("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img" });
  if (!groups.length) {
    svg.append(svgEl("text", { x: 8, y: 20 }, "暂无数据"));
    return svg;
  }
  const totals = groups.map((g) => series.reduce((sum, s) => sum + (g.values[s] || 0), 0));
  const top = Math.max(...totals, 1);
  const plotHeight = height - bottom - 10;
  const step = (width - left - 10) / groups.length;
  const barWidth = Math.max(2, Math.min(40, step * 0.7));
  svg.append(svgEl("line", { class: "axis", x1: left, y1: height - bottom, x2: width - 10,
    y2: height - bottom }));
  svg.append(svgEl("text", { x: left - 6, y: 16, "text-anchor": "end" }, formatNumber(top)));
  groups.forEach((group, i) => {
    let y = height - bottom;
    const x = left + i * step + (step - barWidth) / 2;
    series.forEach((name, j) => {
      const value = group.values[name] || 0;
      if (!value) return;
      const h = (value / top) * plotHeight;
      y -= h;
      const rect = svgEl("rect", { x, y, width: barWidth, height: h, fill: PALETTE[j % PALETTE.length] });
      rect.append(svgEl("title", {}, `${group.label} ${name}: ${formatNumber(value)}`));
      svg.append(rect);
    });
    // Label every day when few, else about ten labels.
    if (groups.length <= 12 || i % Math.ceil(groups.length / 10) === 0) {
      svg.append(svgEl("text", { x: x + barWidth / 2, y: height - bottom + 16, "text-anchor": "middle" },
        group.label.slice(5)));
    }
  });
  return svg;
}

function legend(series) {
  const box = document.createElement("div");
  box.className = "legend";
  series.forEach((name, j) => {
    const item = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = PALETTE[j % PALETTE.length];
    item.append(swatch, document.createTextNode(name));
    box.append(item);
  });
  return box;
}

window.Charts = { horizontalBars, stackedColumns, legend, formatNumber };
