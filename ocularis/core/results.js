"use strict";
// The page's renderer of generic results (the page loads it from the server's /renderers/generic.js).
renderers.generic = (result, drawing, output) => {
  const entries = Object.entries(result).filter(([key]) => key !== "source");
  topLine(output, entries.length ? format(entries[0][1]) : "(empty result)");
  for (const [key, value] of entries) {
    const field = document.createElement("div");
    field.className = "field";
    const name = document.createElement("span");
    name.textContent = key;
    const text = document.createElement("span");
    text.textContent = format(value);
    field.append(name, text);
    output.append(field);
  }
};
