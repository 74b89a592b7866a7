"""The face pipeline, declared: find faces (Haar cascades, or a detector the detect task trained), align them by the
eyes, then verify, recognise and cluster them with a face embedding model (`ocularis embed train --faces`)."""

from ocularis.contract import ToolSpec

TOOL = ToolSpec("faces", "Faces: detect, align by the eyes, verify, recognise and cluster (with an embed model "
                "trained with --faces).", "ocularis.tasks.faces.commands")

__all__ = ["TOOL"]
