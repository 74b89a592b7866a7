"""How a model is kept: saved as one checkpoint (metadata, a network's weights, its other parts) and loaded back from
it or from an exported file. `Task` inherits these; a task declares what loading needs (`build`, `meta_type`,
`has_network`) and may keep parts beside its network (`parts` / `load_parts`)."""

from pathlib import Path
from typing import Any

from ocularis.core.checkpoint import Parts, load_checkpoint, save_checkpoint
from ocularis.core.meta import check_meta
from ocularis.deploy.runtime import OpenedModel, open_model


class Persisted:
    """The saving and loading of every Task (a mixin: spec, build, meta_type, has_network, meta, network and
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
        check_meta(cls.meta_type, meta, path)  # refused now, by name, rather than at the first image
        loaded = cls(model=meta["model"])
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
