"""SavedModel export of any task, in TensorFlow Serving's layout."""

import os
import shutil

import keras

SIGNATURE_NAME = "serving_default"


def next_version(model_dir):
    """One more than the highest numeric version under `model_dir`, or 1."""
    if not os.path.isdir(model_dir):
        return 1
    versions = [int(d) for d in os.listdir(model_dir) if d.isdigit()]
    return max(versions, default=0) + 1


def export_task(task, base_path, model_name, version=None):
    """Exports a task's serving signatures as `<base>/<name>/<version>/`.

    Every signature of `task.serving_signatures()` is written (each runs
    the task's preprocessor on raw inputs, then the model), so a client
    sends what it has and the preprocessing that training used runs in
    the server. `serving_default` must be among them.

    The version appears atomically: it is written to a temporary sibling
    directory whose name is not a number (servers ignore it), then renamed;
    an interrupted export leaves no numeric directory.

    Args:
        task: an `mmkeras.models.Task`.
        base_path: str. The model base path's parent directory.
        model_name: str.
        version: int or None. Defaults to one above the highest existing.

    Returns:
        str, the path of the new version directory.
    """
    model_dir = os.path.join(base_path, model_name)
    version = next_version(model_dir) if version is None else int(version)
    final_dir = os.path.join(model_dir, str(version))
    if os.path.exists(final_dir):
        raise FileExistsError(
            f"Version {version} already exists at {final_dir}; versions are "
            "immutable, export a new one."
        )
    os.makedirs(model_dir, exist_ok=True)
    temp_dir = os.path.join(model_dir, f".tmp-{version}-{os.getpid()}")
    shutil.rmtree(temp_dir, ignore_errors=True)
    try:
        _write_archive(task, temp_dir)
        os.rename(temp_dir, final_dir)
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)
    return final_dir


def _write_archive(task, directory):
    signatures = task.serving_signatures()
    if SIGNATURE_NAME not in signatures:
        raise ValueError(
            f"{type(task).__name__}.serving_signatures() must include "
            f"'{SIGNATURE_NAME}', received {sorted(signatures)}."
        )
    archive = keras.export.ExportArchive()
    archive.track(task)
    if task.preprocessor is not None:
        archive.track(task.preprocessor)
    for name, function in signatures.items():
        archive.add_endpoint(name, function)
    archive.write_out(directory, verbose=False)
