"use strict";
// An index's search: the nearest indexed images as a grid of thumbnails with their similarity and label.
renderers.matches = (result, drawing, output) => {
  topLine(output, result.hits.length ? (result.hits[0].label || result.hits[0].path.split("/").pop())
    : "(the index is empty)");
  const grid = document.createElement("div");
  grid.className = "grid";
  grid.id = "hits";
  for (const hit of result.hits) {
    const figure = document.createElement("figure");
    const picture = document.createElement("img");
    picture.src = hit.thumbnail || "";
    picture.alt = hit.path;
    picture.title = hit.path;
    const caption = document.createElement("figcaption");
    caption.textContent = `${hit.score.toFixed(3)} ${hit.label || ""}`;
    figure.append(picture, caption);
    grid.append(figure);
  }
  output.append(grid);
};
