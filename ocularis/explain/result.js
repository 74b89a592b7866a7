"use strict";
// An explanation beside the prediction: the method's heat map (or picture) and what it explains.
renderers.explanation = (result, drawing, output) => {
  const picture = document.createElement("img");
  picture.id = "explanation";
  picture.src = result.image;
  picture.alt = `${result.method} for ${result.target}`;
  output.append(row(`${result.method}: ${result.target}`), picture);
};
