"""The files that serve an export, and the command that serves it.

Next to the version directories (`<base>/<name>/`), `export_task` writes
a `models.config` (TensorFlow Serving's ModelServerConfig text proto) and
a `batching_parameters.txt` (its BatchingParameters text proto), both
pointing at the path the export has inside the official image's
container, `/models/<name>`; `docker_command` gives the `docker run` line
that mounts it there. `mmkeras-model-server` reads the same files (with a
local base path: see `write_deployment_files`).
"""

import os
import shlex

MODELS_CONFIG = "models.config"
BATCHING_PARAMETERS = "batching_parameters.txt"
CONTAINER_MODELS = "/models"
DOCKER_IMAGE = "tensorflow/serving"
GRPC_PORT = 8500
REST_PORT = 8501
# One call of a signature merges up to this many examples. Each call
# decodes at most the model's max_batch_pixels in all (16.8 M by default), so
# a full batch merges as long as its images average ~1 M pixels.
MAX_BATCH_SIZE = 32
# A request waits at most this long for others to share its batch.
BATCH_TIMEOUT_MICROS = 1000
# Batches queued (open or waiting for a thread) before a request fails
# fast with UNAVAILABLE: this bounds what queued requests hold in memory.
MAX_ENQUEUED_BATCHES = 16


def container_path(model_name):
    """Where the official image sees the export: `/models/<name>`."""
    return f"{CONTAINER_MODELS}/{model_name}"


def models_config_text(model_name, base_path):
    """A ModelServerConfig serving the latest version of one model.

    Args:
        model_name: str.
        base_path: str. The absolute path holding the version directories,
            as the server sees it.
    """
    return (
        "# ModelServerConfig for tensorflow_model_server and\n"
        "# mmkeras-model-server (--model_config_file), written by\n"
        "# mmkeras export.\n"
        "model_config_list {\n"
        "  config {\n"
        f"    name: {_quoted(model_name)}\n"
        f"    base_path: {_quoted(base_path)}\n"
        '    model_platform: "tensorflow"\n'
        "    model_version_policy { latest { num_versions: 1 } }\n"
        "  }\n"
        "}\n"
    )


def batching_parameters_text(max_batch_pixels=None, variable_length=False):
    """BatchingParameters for `--enable_batching` on this model.

    Args:
        max_batch_pixels: int or None. The model's pixel budget per call,
            named in the comments.
        variable_length: bool. Whether an input has a variable axis besides
            the batch (a video's frames): such requests only batch with
            requests of the same length.
    """
    budget = (
        f"max_batch_pixels = {max_batch_pixels}"
        if max_batch_pixels
        else "max_batch_pixels"
    )
    lines = [
        "# BatchingParameters for --enable_batching "
        "--batching_parameters_file,",
        "# written by mmkeras export. Concurrent requests are merged into",
        "# one call of the signature, of at most max_batch_size examples.",
        f"# The model decodes at most {budget} pixels of",
        f"# images per call, so a full batch of {MAX_BATCH_SIZE} merges "
        "while its",
        f"# images average a {MAX_BATCH_SIZE}th of that; send larger "
        "images alone,",
        "# or export with a larger budget.",
        "# batch_timeout_micros: how long a request waits for others.",
        "# max_enqueued_batches: queued batches before requests fail fast",
        "# with UNAVAILABLE, which bounds what waiting requests hold.",
        "# num_batch_threads is left to the server: one per core.",
    ]
    if variable_length:
        lines += [
            "# Video clips batch only with clips of as many frames (padding",
            "# them would repeat a real frame): send clips of the model's",
            "# frame count for them to share batches.",
        ]
    lines += [
        f"max_batch_size {{ value: {MAX_BATCH_SIZE} }}",
        f"batch_timeout_micros {{ value: {BATCH_TIMEOUT_MICROS} }}",
        f"max_enqueued_batches {{ value: {MAX_ENQUEUED_BATCHES} }}",
    ]
    return "\n".join(lines) + "\n"


def write_deployment_files(
    model_dir,
    model_name,
    base_path=None,
    max_batch_pixels=None,
    variable_length=False,
):
    """Writes `models.config` and `batching_parameters.txt` in `model_dir`.

    Each file is written whole to a temporary name, then renamed, so a
    server polling the config never reads half of one.

    Args:
        model_dir: str. `<base>/<name>`, the directory of the versions.
        model_name: str.
        base_path: str or None. The versions' directory as the server
            sees it; None: `/models/<name>`, the official image's
            (`docker_command`). A local server needs `model_dir` itself.
        max_batch_pixels, variable_length: see `batching_parameters_text`.

    Returns:
        dict with the paths written: `models_config`,
        `batching_parameters`.
    """
    files = {
        "models_config": (
            MODELS_CONFIG,
            models_config_text(
                model_name, base_path or container_path(model_name)
            ),
        ),
        "batching_parameters": (
            BATCHING_PARAMETERS,
            batching_parameters_text(max_batch_pixels, variable_length),
        ),
    }
    written = {}
    for key, (filename, text) in files.items():
        path = os.path.join(model_dir, filename)
        temporary = f"{path}.tmp-{os.getpid()}"
        with open(temporary, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
        written[key] = path
    return written


def docker_command(base_path, model_name, image=DOCKER_IMAGE, batching=True):
    """The `docker run` line that serves an export on the official image.

    It mounts `<base>/<name>` (versions, `models.config`,
    `batching_parameters.txt`) read-only at `/models/<name>`, publishes
    gRPC on 8500 and REST on 8501, and, for a model whose requests
    batch, turns batching on with the export's parameters; warmup
    requests are replayed by default.

    Args:
        base_path: str. The export's base path (`export_task`'s).
        model_name: str.
        image: str. The TensorFlow Serving image.
        batching: bool. The task's `serving_batches`: False leaves
            request batching off.

    Returns:
        str, one shell command line.

    Example:
    >>> print(docker_command("/srv/models", "demo"))
    docker run --rm -p 8500:8500 -p 8501:8501 -v /srv/models/demo:/models/demo:ro tensorflow/serving --model_config_file=/models/demo/models.config --enable_batching=true --batching_parameters_file=/models/demo/batching_parameters.txt
    """  # noqa: E501
    local = os.path.abspath(os.path.join(base_path, model_name))
    inside = container_path(model_name)
    words = [
        "docker",
        "run",
        "--rm",
        "-p",
        f"{GRPC_PORT}:{GRPC_PORT}",
        "-p",
        f"{REST_PORT}:{REST_PORT}",
        "-v",
        f"{local}:{inside}:ro",
        image,
        f"--model_config_file={inside}/{MODELS_CONFIG}",
    ]
    if batching:
        words += [
            "--enable_batching=true",
            f"--batching_parameters_file={inside}/{BATCHING_PARAMETERS}",
        ]
    return shlex.join(words)


def _quoted(text):
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
