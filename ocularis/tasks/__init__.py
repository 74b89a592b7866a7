"""The built-in tasks. Each is one sub-package of the same shape; adding one is its folder plus one line below.
Tools (verb groups that use the tasks' models and train none of their own) register the same way, in TOOLS.
Nothing here imports torch: a task's class is imported when an entry point first uses it."""

from ocularis.registry import TASKS, TOOLS
from ocularis.tasks import autoencode, classify, detect, embed, faces, generate, landmarks, restore, segment, style

BUILTIN = (classify.SPEC, detect.SPEC, segment.SPEC, embed.SPEC, landmarks.SPEC, restore.SPEC, autoencode.SPEC,
           generate.SPEC, style.SPEC)
for _spec in BUILTIN:
    TASKS.add(_spec.name, _spec)
BUILTIN_TOOLS = (faces.TOOL,)
for _tool in BUILTIN_TOOLS:
    TOOLS.add(_tool.name, _tool)
