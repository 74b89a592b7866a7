"""The built-in tasks. Each is one sub-package of the same shape; adding one is its folder plus one line below.
Nothing here imports torch: a task's class is imported when an entry point first uses it."""

from ocularis.registry import TASKS
from ocularis.tasks import classify, detect, segment

BUILTIN = (classify.SPEC, detect.SPEC, segment.SPEC)
for _spec in BUILTIN:
    TASKS.add(_spec.name, _spec)
