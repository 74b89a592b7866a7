"""What a model lets one read out of it, beside its answer: explanations (where it looks, what its layers hold) and
embeddings (its images as unit vectors for search, verification and clustering). `Task` inherits these hooks; a
task declares what to read (`explainable`, `explain_layer`, `explain_target`, `embeds_outputs` ...), and
ocularis.engine.explaining, explain_report and embedding do the reading."""

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from PIL import Image
from torch import nn

from ocularis.data.inputs import batches, expand_inputs
from ocularis.engine.embedding import embed_pictures
from ocularis.engine.explain_report import ExplainReport, explain_dataset
from ocularis.engine.explaining import explain_images
from ocularis.errors import ConfigError
from ocularis.explain import ATTACKS, CAMS, IMAGE_METHODS, LAYER_PICTURES
from ocularis.explain.result import Explanation
from ocularis.explain.target import ExplainTarget


class LooksInside:
    """The explanation and embedding hooks of every Task (a mixin: the network, meta, preprocess and
    _require_network are the Task's)."""

    # ---- explanation hooks (ocularis.engine.explaining reads these) --------------------------------------------
    explainable: ClassVar[bool] = False  # the task fills in explain_target (and explain_layer where it has one)
    # the network's output is class logits and its datasets' items are (image, class index): what adversarial
    # attacks and class-coloured feature plots need
    explains_logits: ClassVar[bool] = False

    def explanations(self) -> tuple[str, ...]:
        """The per-image methods this model can run: none for an exported file (no layers or gradients to read)
        or a task that declares nothing to explain; attacks only on class logits; class activation maps and layer
        pictures only where a layer is declared."""
        if not self.explainable or not isinstance(self.network, nn.Module):
            return ()
        layered = self.explain_layer() is not None
        return tuple(m for m in IMAGE_METHODS if (self.explains_logits or m not in ATTACKS)
                     and (layered or m not in (*CAMS, *LAYER_PICTURES)) and (m != "cam" or self.gives_cam_weights()))

    def explain(self, method: str, inputs: Any, target: str | None = None, layer: str | None = None,
                batch: int = 16, progress: bool = False, epsilon: float = 0.05) -> list[Explanation]:
        """One Explanation per input image: a heat map of where the network looks (cam, gradcam, gradcam++,
        scorecam, saliency, guided_backprop, integrated_gradients, occlusion), a layer's feature maps or DeepDream,
        or an FGSM / PGD attack of budget `epsilon` (pixel units); for `target` (a class name; default: each
        input's own answer) at `layer` (a module name; default: explain_layer())."""
        self._require_network()
        return explain_images(self, method, inputs, target, layer, batch, progress, epsilon)

    def explain_data(self, method: str, folder: str | Path, data: str | None = None, split: str = "test",
                     layer: str | None = None, inputs: Any = None, limit: int = 500,
                     progress: bool = False) -> ExplainReport:
        """Explanations of the model over a dataset's split (at most `limit` images), written into `folder`: tsne,
        pca or projector of a layer's features, the neighbours of `inputs` among them, robustness to FGSM and
        PGD, the filters of a convolution, the images that maximise each class, the patches that excite a layer's
        channels most."""
        self._require_network()
        return explain_dataset(self, method, Path(folder), data, split, layer, inputs, limit, progress)

    def explain_inputs(self, pictures: list[Image.Image]) -> torch.Tensor:
        """One network input per picture (what explanations attribute to); default: preprocess's."""
        return self.preprocess(pictures, self.default_options())

    def explain_layer(self) -> nn.Module | None:
        """The layer class activation maps read (one every output depends on); None: none declared."""
        return None

    def explain_features(self) -> nn.Module | None:
        """The layer whose (pooled) output is an image's feature vector for t-SNE, PCA and neighbours; default:
        explain_layer()."""
        return self.explain_layer()

    def gives_cam_weights(self) -> bool:
        """Whether explain_target carries the target's head weights that CAM reads (a network whose last
        convolutional stage is pooled straight into a linear head); without them only the gradient CAMs run."""
        return False

    def explain_target(self, outputs: Any, target: str | None = None) -> ExplainTarget:
        """What is explained for each input, read from the network's raw outputs: `target` (a class name) or,
        by default, the input's own answer."""
        raise ConfigError(f"{self.spec.name} models declare nothing to explain")

    # ---- embeddings (ocularis.engine.embedding): any model's images as unit vectors ----------------------------
    embeds_outputs: ClassVar[bool] = False  # the network's output is the embedding (metric learning); otherwise the
    # pooled output of explain_features() is

    def embed(self, inputs: Any, batch: int = 32, layer: str | None = None) -> np.ndarray:
        """(N, D) float32 L2-normalised vectors of images (paths, folders, PIL images, arrays), from the model's
        embedding or the pooled output of `layer` (default: the task's feature layer)."""
        self._require_network()
        found = [embed_pictures(self, pictures, layer)
                 for _, pictures in batches(expand_inputs(inputs), self.pixels.channels, batch)]
        return np.concatenate(found)

    def verification_threshold(self) -> float | None:
        """The cosine at or above which two images count as the same identity (None: the model was not calibrated
        for verification; metric-learning models choose it at their run's false-accept rate)."""
        return None
