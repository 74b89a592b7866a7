"use strict";
// The page's renderer of embedding results (the page loads it from the server's /renderers/embedding.js).
renderers.embedding = (result, drawing, output) => {
  topLine(output, result.identity ? `${result.identity}${result.known ? "" : " (unknown)"}` : "(no classes)");
  if (result.similarity !== null) output.append(row(`similarity to its class: ${result.similarity.toFixed(3)}`));
  output.append(row(`${result.vector.length}-d embedding`));
};
