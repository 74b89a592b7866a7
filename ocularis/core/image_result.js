"use strict";
// A picture result (restored, reconstructed, generated): the output, with the input laid over it up to the
// slider (before | after), both at the output's size; and the numbers measured of it.
renderers.images = (result, drawing, output) => {
  topLine(output, `${result.width} x ${result.height}`);
  for (const [name, value] of Object.entries(result.scores)) output.append(row(`${name}: ${format(value)}`));
  for (const [name, value] of Object.entries(result.verdicts)) output.append(row(`${name}: ${value ? "yes" : "no"}`));
  const frame = document.createElement("div");
  frame.className = "compare";
  frame.id = "compare";
  const after = document.createElement("img");
  after.src = `data:image/png;base64,${result.image_png}`;
  after.alt = "output";
  frame.append(after);
  output.append(frame);
  if (!result.input_png) return;
  const before = document.createElement("img");
  before.src = `data:image/png;base64,${result.input_png}`;
  before.alt = "input";
  before.className = "before";
  frame.append(before);
  const slider = document.createElement("input");
  Object.assign(slider, { type: "range", min: 0, max: 100, step: 1, value: 50, id: "before-after" });
  const reveal = () => { before.style.clipPath = `inset(0 ${100 - Number(slider.value)}% 0 0)`; };
  slider.addEventListener("input", reveal);
  reveal();
  const label = document.createElement("label");
  label.textContent = "input | output ";
  label.append(slider);
  output.append(label);
};
