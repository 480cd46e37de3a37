"""`export(model, directory)`: the TF SavedModel of any zoo model, servable
without the zoo package, decoding with the same compiled search or sampling
loop as the Python API. What `zoo export NAME DIR` runs.

Each task writes its own (`zoo.tasks.translation.export`: strings in,
translations out; `zoo.tasks.captioning.export`: encoded images in, captions
out; `zoo.tasks.text_generation.export`: a prompt, a length, a temperature
and a seed in, the generated text out).
"""

import os
import shutil

from zoo import tasks
from zoo.io import publish, staging_dir
from zoo.models.base import ZooModel


def export(model, directory):
    """Writes the SavedModel of a zoo model to `directory` (new), by its task."""
    if not isinstance(model, ZooModel) or model.task not in tasks.TASKS:
        raise ValueError(f"`model` must be a zoo translation, captioning or text-generation model, "
                         f"got {type(model).__name__}.")
    if not str(directory) or os.path.exists(directory):
        raise ValueError(f"`directory` must be a new directory for the SavedModel, got {str(directory)!r}"
                         f"{' (it exists)' if str(directory) else ''}.")
    # Written beside its place, then renamed: a kill or a full disk leaves no partial export (the next
    # export removes what a killed one left), and of two exports to one directory the second is refused.
    staging = staging_dir(directory)
    try:
        tasks.get(model.task).module().export(model, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return publish(staging, directory, "export")
