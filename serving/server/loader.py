"""Finding and loading model versions laid out like TensorFlow Serving's.

A model lives under a base path with one SavedModel per version:

    <model_base_path>/1/saved_model.pb
    <model_base_path>/00000002/saved_model.pb

A subdirectory is a version when its name reads as a 64-bit integer the
way TensorFlow Serving reads it (absl::SimpleAtoi: ASCII digits with an
optional sign and surrounding whitespace), so `00000002/` is version 2 and
is loaded from `00000002/`. Anything else is ignored, in particular the
temporary directories an atomic export writes before renaming them into
place (e.g. `.tmp-3`). When two names read as the same number (`123/` and
`00000123/`), the one that sorts last as a string is used, which is the
unpadded one, as in TensorFlow Serving (its sorted directory listing keeps
the last); the others are reported by `find_versions`. A loaded version is
not reloaded because another directory now claims its number.

A SavedModel is run in a TensorFlow Session (`session_servable`), as
TensorFlow Serving runs it. With `prefer_tflite=True` a version directory
holding `model.tflite` is served from that file by the LiteRT interpreter
instead (TensorFlow Serving's --prefer_tflite_model); without the file the
SavedModel is used.
"""

import dataclasses
import os
import re
from typing import Any

from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow.core.protobuf import saved_model_pb2

from serving.server import session_servable
from serving.server import tflite_servable
from serving.server.batching.options import options_from_parameters
from serving.server.config import messages
from serving.server.config.text_proto import read_text_proto
from serving.server.custom_ops import register_custom_ops
from serving.server.session_servable import DEFAULT_TAGS
from serving.server.session_servable import SessionOptions

SAVED_MODEL_FILENAME = "saved_model.pb"
# A version's own BatchingParameters (--enable_per_model_batching_parameters).
BATCHING_PARAMS_FILENAME = "batching_params.pbtxt"
_VERSION_NAME = re.compile(r"[+-]?[0-9]+")
# absl::ascii_isspace, which SimpleAtoi strips around the number.
_ASCII_SPACE = " \t\n\v\f\r"
_INT64_RANGE = range(-(2**63), 2**63)


@dataclasses.dataclass(frozen=True)
class Servable:
    """One loaded version of a model.

    Args:
        name: str. The model name clients ask for.
        version: int. The version number (its directory name read as a
            number: `00000123/` is version 123).
        path: str. The version's SavedModel directory.
        signatures: dict[str, SessionSignature | TfliteSignature]. What
            requests run, by signature key.
        signature_defs: dict[str, SignatureDef]. The signatures as stored in
            `saved_model.pb`, reported by GetModelMetadata.
        runtime: what the signatures run on, kept alive with them: the
            SavedModel's tf.compat.v1.Session, or the LiteRT interpreters
            of a TFLite servable.
        batching: BatchingOptions | bool | None. None: batched with the
            server's options, if batching is on; False: never batched;
            BatchingOptions: batched with these queue options (both from
            --enable_per_model_batching_parameters, see `load_servable`).
    """

    name: str
    version: int
    path: str
    signatures: dict
    signature_defs: dict
    runtime: Any = dataclasses.field(repr=False)
    batching: Any = None


@dataclasses.dataclass(frozen=True)
class VersionDirectories:
    """The version directories under a base path.

    Args:
        by_version: dict[int, str]. The directory name each version is
            loaded from.
        ignored: tuple[str, ...]. Names that read as a version another
            directory already provides, sorted.
    """

    by_version: dict
    ignored: tuple = ()


def parse_version(name):
    """The version a directory name stands for, or None if it is none.

    Follows absl::SimpleAtoi, which TensorFlow Serving uses: ASCII digits
    with an optional sign, surrounding ASCII whitespace allowed, within
    int64. (str.isdigit would accept "²", which int() rejects.)
    """
    text = name.strip(_ASCII_SPACE)
    if not _VERSION_NAME.fullmatch(text):
        return None
    number = int(text)
    return number if number in _INT64_RANGE else None


def find_version_directories(model_base_path):
    """Maps each version under a base path to the directory holding it.

    Raises:
        FileNotFoundError: if the base path is not a directory.
    """
    if not os.path.isdir(model_base_path):
        raise FileNotFoundError(
            f"Model base path {model_base_path!r} does not exist or is not a "
            "directory. Pass --model_base_path=DIR where DIR contains one "
            "numbered subdirectory per version (e.g. DIR/1/saved_model.pb)."
        )
    by_version, ignored = {}, []
    # Sorted, so that the name sorting last wins: "123" over "00000123".
    names = sorted(
        entry.name for entry in os.scandir(model_base_path) if entry.is_dir()
    )
    for name in names:
        version = parse_version(name)
        if version is None:
            continue
        if version in by_version:
            ignored.append(by_version[version])
        by_version[version] = name
    return VersionDirectories(by_version, tuple(sorted(ignored)))


def find_versions(model_base_path):
    """Lists the version numbers under a model base path, ascending.

    Raises:
        FileNotFoundError: if the base path is not a directory.
    """
    return sorted(find_version_directories(model_base_path).by_version)


def version_path(model_base_path, version):
    """The directory version `version` is loaded from.

    Raises:
        FileNotFoundError: if no directory under the base path names it.
    """
    directories = find_version_directories(model_base_path).by_version
    if version not in directories:
        raise FileNotFoundError(
            f"Version {version} not found under base path "
            f"{model_base_path!r}: no subdirectory is named {version} "
            "(zero-padded names such as 00000123 count too)."
        )
    return os.path.join(model_base_path, directories[version])


def load_servable(
    name,
    model_base_path,
    version,
    prefer_tflite=False,
    session_options=None,
    num_tflite_interpreters=1,
    per_model_batching=False,
):
    """Loads one version of a model from the directory naming it under
    `model_base_path` (`<version>/`, or a zero-padded name).

    Args:
        name: str. The model name.
        model_base_path: str. The directory holding the versions.
        version: int. The version to load.
        prefer_tflite: bool. Serve `model.tflite` if the version has one.
        session_options: SessionOptions | None. Threading of a SavedModel's
            session; None: the defaults.
        num_tflite_interpreters: int. LiteRT interpreters for a TFLite
            servable, each running one request at a time.
        per_model_batching: bool. Batch this version only if it has a
            batching_params.pbtxt, with its parameters (TensorFlow
            Serving's --enable_per_model_batching_parameters).

    Raises:
        ValueError: also for a batching_params.pbtxt that does not parse.
    """
    path = version_path(model_base_path, version)
    batching = _batching(path) if per_model_batching else None
    tflite_path = os.path.join(path, tflite_servable.TFLITE_FILENAME)
    if prefer_tflite and os.path.isfile(tflite_path):
        signatures, signature_defs, runtime = tflite_servable.load_tflite_model(
            tflite_path, num_tflite_interpreters
        )
        return Servable(
            name, version, path, signatures, signature_defs, runtime, batching
        )
    register_custom_ops()
    session_options = session_options or SessionOptions()
    # Parsed first: a file that is not a SavedModel, or has no MetaGraph
    # with these tags, gets a clear error.
    signature_defs = read_signature_defs(path, session_options.tags)
    signatures, session = session_servable.load_session_model(
        path, session_options
    )
    return Servable(
        name, version, path, signatures, signature_defs, session, batching
    )


def _batching(path):
    """A version's own batching options, or False without the file."""
    parameters_path = os.path.join(path, BATCHING_PARAMS_FILENAME)
    if not os.path.isfile(parameters_path):
        return False
    parameters = read_text_proto(parameters_path, messages.BatchingParameters)
    return options_from_parameters(parameters)


def load_latest(name, model_base_path):
    """Loads the highest version under a model base path.

    Raises:
        FileNotFoundError: if the base path does not exist.
        ValueError: if it holds no numbered version directory.
    """
    versions = find_versions(model_base_path)
    if not versions:
        raise ValueError(
            f"No versions of model {name!r} found under base path "
            f"{model_base_path!r}. Expected numbered subdirectories such as "
            f"{os.path.join(model_base_path, '1')}."
        )
    return load_servable(name, model_base_path, versions[-1])


def read_signature_defs(saved_model_dir, tags=DEFAULT_TAGS):
    """Reads the SignatureDefs of the MetaGraph tagged `tags` (exactly, as
    TensorFlow's loader matches them) from saved_model.pb.

    Returns:
        dict[str, SignatureDef], including internal entries such as
        `__saved_model_init_op`, as TensorFlow Serving reports them.
    """
    saved_model = saved_model_pb2.SavedModel()
    pb_path = os.path.join(saved_model_dir, SAVED_MODEL_FILENAME)
    with open(pb_path, "rb") as pb_file:
        saved_model.ParseFromString(pb_file.read())
    meta_graph = _tagged_meta_graph(saved_model, saved_model_dir, tags)
    return {
        key: _copy_signature_def(signature_def)
        for key, signature_def in meta_graph.signature_def.items()
    }


def _tagged_meta_graph(saved_model, saved_model_dir, tags):
    for meta_graph in saved_model.meta_graphs:
        if set(meta_graph.meta_info_def.tags) == set(tags):
            return meta_graph
    available = [
        ",".join(meta_graph.meta_info_def.tags)
        for meta_graph in saved_model.meta_graphs
    ]
    raise ValueError(
        f"SavedModel at {saved_model_dir!r} has no MetaGraph tagged "
        f"{','.join(tags)!r}; its MetaGraphs are tagged {available}. Pass "
        "--saved_model_tags to choose one."
    )


def _copy_signature_def(signature_def):
    # A standalone copy lets the (large) parsed SavedModel be freed.
    copy = meta_graph_pb2.SignatureDef()
    copy.CopyFrom(signature_def)
    return copy
