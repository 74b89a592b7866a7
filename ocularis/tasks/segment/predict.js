"use strict";
let maskOpacity = 0.5;

// Class index i > 0 of the map becomes PALETTE[i - 1] (the server's overlay colours) at `opacity` over the image.
function tintClasses(drawing, map, result, opacity) {
  const scratch = document.createElement("canvas");
  scratch.width = result.width;
  scratch.height = result.height;
  const context = scratch.getContext("2d");
  context.drawImage(map, 0, 0);
  const pixels = context.getImageData(0, 0, result.width, result.height);
  for (let i = 0; i < pixels.data.length; i += 4) {
    const index = pixels.data[i];
    const background = result.background !== false;
    const colour = index === 255 || (background && !index) ? null : PALETTE[(index - background) % PALETTE.length];
    pixels.data[i + 3] = colour ? Math.round(255 * opacity) : 0;
    if (colour) [0, 1, 2].forEach((c) => { pixels.data[i + c] = parseInt(colour.slice(1 + 2 * c, 3 + 2 * c), 16); });
  }
  context.putImageData(pixels, 0, 0);
  drawing.context.imageSmoothingEnabled = false;
  drawing.context.drawImage(scratch, 0, 0, result.width * drawing.scale, result.height * drawing.scale);
}

// The class map (a PNG of class indices) tinted over the image at the opacity slider's value, a legend of the
// classes present, and each object's box from instance models.
renderers.masks = (result, drawing, output) => {
  const background = result.background !== false;  // class 0 may be a real class (CamVid's Sky): tinted too
  const present = Object.entries(result.pixels).filter(([name]) => !background || name !== result.classes[0]);
  topLine(output, result.objects.length ? `${result.objects.length} object${result.objects.length === 1 ? "" : "s"}`
    : present.map(([name]) => name).join(", ") || "(background only)");
  const slider = document.createElement("input");
  Object.assign(slider, { type: "range", min: 0, max: 1, step: 0.05, value: maskOpacity, id: "opacity" });
  const label = document.createElement("label");
  label.textContent = "opacity ";
  label.append(slider);
  output.append(label);
  const total = result.width * result.height;
  for (const [name, count] of present) {
    const index = result.classes.indexOf(name);
    const line = row(`${name}: ${(100 * count / total).toFixed(1)}% of the pixels`);
    line.className = "legend";
    line.style.borderLeft = `14px solid ${PALETTE[(index - background) % PALETTE.length]}`;
    line.style.paddingLeft = "6px";
    output.append(line);
  }
  for (const o of result.objects) {
    const line = row(`${o.label} ${o.score.toFixed(3)} · ${o.area} px [${o.box.map((v) => v.toFixed(0)).join(", ")}]`);
    line.className = "detection";
    output.append(line);
  }
  if (!drawing) return;
  const base = drawing.context.getImageData(0, 0, drawing.context.canvas.width, drawing.context.canvas.height);
  const map = new Image();
  map.onload = () => {
    const paint = () => {
      drawing.context.putImageData(base, 0, 0);
      tintClasses(drawing, map, result, Number(slider.value));
      for (const o of result.objects) drawBox(drawing, o, PALETTE[(o.class_id - 1) % PALETTE.length]);
    };
    slider.addEventListener("input", () => { maskOpacity = Number(slider.value); paint(); });
    paint();
  };
  map.src = `data:image/png;base64,${result.class_map_png}`;
};
