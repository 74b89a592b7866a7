"""How a model is kept: saved as one checkpoint (metadata, a network's weights, its other parts) and loaded back from
it or from an exported file. `Task` inherits these; a task declares what loading needs (`build`, `required_meta`,
`has_network`) and may keep parts beside its network (`parts` / `load_parts`)."""

from pathlib import Path
from typing import Any

from ocularis.core.checkpoint import Parts, load_checkpoint, save_checkpoint
from ocularis.core.meta import Pixels
from ocularis.deploy.runtime import OpenedModel, open_model
from ocularis.errors import CheckpointError

BASE_META = ("task", "model", "config")  # what every saved model's metadata holds; tasks add `required_meta`


class Persisted:
    """The saving and loading of every Task (a mixin: spec, build, required_meta, has_network, meta, network and
    _require_network are the Task's)."""

    def save(self, path: str | Path) -> Path:
        self._require_network()
        state = {k: v.detach().cpu() for k, v in self.network.state_dict().items()} if self.has_network else {}
        return save_checkpoint(path, state, self.meta, self.parts())

    def parts(self) -> Parts:
        """Arrays and small text files the saved model holds beside the network's weights (default: none)."""
        return Parts()

    def load_parts(self, parts: Parts) -> None:
        """Take back what `parts` saved, after `build` (default: nothing to take)."""
        return None

    @classmethod
    def load(cls, path: str | Path) -> "Persisted":
        """The task object from a checkpoint, or from an exported ONNX / TorchScript file (same results)."""
        return cls.from_opened(path, open_model(path, cls.spec.name))

    @classmethod
    def from_opened(cls, path: str | Path, opened: OpenedModel) -> "Persisted":
        """The task object from a model file that ocularis.deploy.runtime.open_model read (once)."""
        meta = opened.meta
        missing = [key for key in (*BASE_META, *cls.required_meta) if key not in meta]
        if missing:
            raise CheckpointError(f"{path} lacks the metadata {missing[0]!r}; pass a best.ckpt written by ocularis")
        loaded = cls(model=meta["model"])
        if set(Pixels.KEYS) <= set(cls.required_meta):  # a model that reads images through `pixels`
            Pixels.of(meta, path)  # refused now, by name, rather than at the first image
        loaded.meta, loaded.source = meta, Path(path)  # runtime_network may read the metadata
        if opened.state_dict is None:
            loaded.network = loaded.runtime_network(opened.graphs).eval()
        elif cls.has_network:
            loaded.network = cls.build(meta)
            loaded.network.load_state_dict(opened.state_dict)
            loaded.network.eval()
        else:
            loaded.network = cls.build(meta)
        loaded.load_parts(opened.parts)
        return loaded

    def runtime_network(self, graphs: dict[str, Any]) -> Any:
        """What infer() runs when the model is an exported file, from its graphs' runtimes (default: the one)."""
        return graphs["network"]

    def _restore(self, best: Path) -> None:
        """The best epoch's weights and metadata back into this object."""
        checkpoint = load_checkpoint(best, self.spec.name)
        if self.has_network:
            self.network.load_state_dict(checkpoint["state_dict"])
        self.meta, self.source = checkpoint["ocularis"], best
        self.load_parts(Parts.from_saved(checkpoint.get("parts")))
