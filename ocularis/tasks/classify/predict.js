"use strict";
// The page's renderer of labels results (the page loads it from the server's /renderers/labels.js).
renderers.labels = (result, drawing, output) => {
  topLine(output, result.labels.join(", ") || "(no label above its threshold)");
  for (const [rank, entry] of result.topk.entries()) {
    const row = document.createElement("div");
    row.className = rank === 0 ? "bar top" : "bar";
    const name = document.createElement("span");
    name.textContent = entry.label;
    const track = document.createElement("div");
    track.className = "track";
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.width = (100 * entry.score).toFixed(1) + "%";
    track.append(fill);
    const score = document.createElement("span");
    score.textContent = entry.score.toFixed(3);
    row.append(name, track, score);
    output.append(row);
  }
};
