"use strict";
// The page's renderer of boxes results (the page loads it from the server's /renderers/boxes.js).
renderers.boxes = (result, drawing, output) => {
  topLine(output, `${result.detections.length} object${result.detections.length === 1 ? "" : "s"}`);
  for (const d of result.detections) {
    const colour = PALETTE[d.class_id % PALETTE.length];
    if (drawing) drawBox(drawing, d, colour);
    const line = row(`${d.label} ${d.score.toFixed(3)} [${d.box.map((v) => v.toFixed(0)).join(", ")}]`);
    line.className = "detection";
    output.append(line);
  }
};
