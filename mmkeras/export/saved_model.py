"""SavedModel export of any task, in TensorFlow Serving's layout."""

import contextlib
import json
import os
import shutil

import keras
import tensorflow as tf

from mmkeras.export import deployment
from mmkeras.export import warmup
from mmkeras.preprocessing.decode_limits import limits_of

SIGNATURE_NAME = "serving_default"
# Floating outputs a server hands to clients: float32, whatever precision
# the model computes in.
OUTPUT_FLOAT = tf.float32
# The training config, beside the warmup requests: servers read only
# the files they know in assets.extra and ignore others.
TRAIN_CONFIG_FILENAME = "mmkeras_train_config.json"


def next_version(model_dir):
    """One more than the highest numeric version under `model_dir`, or 1."""
    if not os.path.isdir(model_dir):
        return 1
    versions = [int(d) for d in os.listdir(model_dir) if d.isdigit()]
    return max(versions, default=0) + 1


def export_task(
    task,
    base_path,
    model_name,
    version=None,
    limits=None,
    warmup_examples=None,
):
    """Exports a task's serving signatures as `<base>/<name>/<version>/`.

    Every signature of `task.serving_signatures()` is written (each runs
    the task's preprocessor on raw inputs, then the model), so a client
    sends what it has and the preprocessing that training used runs in
    the server. `serving_default` must be among them, and every floating
    output must be float32, whatever the training precision.

    The preprocessor's decoders check every input's header against their
    limits (`mmkeras.preprocessing.decode_limits`) inside the signatures,
    so a request cannot make any server decode more than they allow;
    `limits` sets them for this export only.

    With `warmup_examples`, `assets.extra/tf_serving_warmup_requests`
    holds one request per signature on those raw values, which servers
    replay before serving the version; each is run once here, so a
    version whose warmup would fail its load is not written.

    A task trained by `mmkeras.training.train` carries its training config
    in `task.metadata["train_config"]`; it is written as
    `assets.extra/mmkeras_train_config.json`, so a served version says how
    it was trained.

    The version appears atomically: it is written to a temporary sibling
    directory whose name is not a number (servers ignore it), then renamed;
    an interrupted export leaves no numeric directory. Then `models.config`
    and `batching_parameters.txt` are (re)written beside the versions
    (see `mmkeras.export.deployment`).

    Args:
        task: an `mmkeras.models.Task`.
        base_path: str. The model base path's parent directory.
        model_name: str.
        version: int or None. Defaults to one above the highest existing.
        limits: `DecodeLimits` or None (the preprocessor's own limits).
        warmup_examples: dict or None. Raw input name (e.g. "image",
            "text") to a list of raw values, one per example, as a
            client sends them; a few real training records.

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
        with _limits_applied(task, limits):
            _write_archive(task, temp_dir)
            effective_limits = limits_of(task.preprocessor)
        definitions = warmup.signature_defs(temp_dir)
        check_float_outputs(definitions)
        if warmup_examples is not None:
            logs = warmup.warmup_logs(
                definitions,
                warmup_examples,
                model_name,
                scalars=task.warmup_scalars(),
            )
            warmup.write_warmup_file(temp_dir, logs)
            _check_warmup(temp_dir, logs)
        _write_train_config(task, temp_dir)
        os.rename(temp_dir, final_dir)
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)
    deployment.write_deployment_files(
        model_dir,
        model_name,
        max_batch_pixels=effective_limits.get("max_batch_pixels"),
        variable_length=_has_variable_length(definitions),
    )
    return final_dir


def train_config_file(version_dir):
    """Where a version keeps the config its task was trained with."""
    return os.path.join(
        version_dir, warmup.WARMUP_DIRECTORY, TRAIN_CONFIG_FILENAME
    )


def _write_train_config(task, directory):
    train_config = getattr(task, "metadata", {}).get("train_config")
    if train_config is None:
        return
    path = train_config_file(directory)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(train_config, f, indent=2)


def check_float_outputs(definitions):
    """Raises ValueError for a floating output that is not float32.

    Args:
        definitions: dict of signature name to SignatureDef.
    """
    for name, definition in sorted(definitions.items()):
        for key, info in sorted(definition.outputs.items()):
            dtype = tf.dtypes.as_dtype(info.dtype)
            if dtype.is_floating and dtype != OUTPUT_FLOAT:
                raise ValueError(
                    f"Signature {name!r} returns {key!r} as {dtype.name}; "
                    "serving outputs must be float32 whatever the training "
                    "precision: cast them in the task's serving signature."
                )


@contextlib.contextmanager
def _limits_applied(task, limits):
    if limits is None:
        yield
        return
    if task.preprocessor is None:
        raise ValueError(
            f"{type(task).__name__} has no preprocessor, so there is no "
            "decoder to set limits on; export without limits."
        )
    with limits.applied_to(task.preprocessor):
        yield


def _write_archive(task, directory):
    write_signature_archive(
        task, task.serving_signatures(), directory, "serving_signatures"
    )


def write_signature_archive(task, signatures, directory, method):
    """Writes a task's `signatures` (name -> tf.function) as a SavedModel.

    `method` names the task method they came from, for the error raised
    when `serving_default` is not among them.
    """
    if SIGNATURE_NAME not in signatures:
        raise ValueError(
            f"{type(task).__name__}.{method}() must include "
            f"'{SIGNATURE_NAME}', received {sorted(signatures)}."
        )
    archive = keras.export.ExportArchive()
    archive.track(task)
    if task.preprocessor is not None:
        archive.track(task.preprocessor)
    for name, function in signatures.items():
        archive.add_endpoint(name, function)
    archive.write_out(directory, verbose=False)


def _check_warmup(directory, logs):
    """Runs each warmup request on the written SavedModel."""
    loaded = tf.saved_model.load(directory)
    for log in logs:
        name, inputs = warmup.request_inputs(log)
        try:
            loaded.signatures[name](**inputs)
        except tf.errors.OpError as error:
            raise ValueError(
                f"The warmup examples fail on signature {name!r}, so every "
                f"server would fail to load this version: {error.message}"
            ) from None


def _has_variable_length(definitions):
    """Whether a `serving_default` input has a variable non-batch axis."""
    definition = definitions[SIGNATURE_NAME]
    return any(
        any(dim.size < 0 for dim in info.tensor_shape.dim[1:])
        for info in definition.inputs.values()
    )
