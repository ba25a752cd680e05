"""Finding and loading model versions laid out like TensorFlow Serving's.

A model lives under a base path with one SavedModel per version:

    <model_base_path>/1/saved_model.pb
    <model_base_path>/2/saved_model.pb

Only subdirectories whose names are all digits are versions. Anything else
is ignored, in particular the temporary directories an atomic export writes
before renaming them into place (e.g. `.tmp-3`).

A SavedModel is run in a TensorFlow Session (`session_servable`), as
TensorFlow Serving runs it. With `prefer_tflite=True` a version directory
holding `model.tflite` is served from that file by the LiteRT interpreter
instead (TensorFlow Serving's --prefer_tflite_model); without the file the
SavedModel is used.
"""

import dataclasses
import os
from typing import Any

from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow.core.protobuf import saved_model_pb2

from serving.server import session_servable
from serving.server import tflite_servable
from serving.server.custom_ops import register_custom_ops
from serving.server.session_servable import DEFAULT_TAGS
from serving.server.session_servable import SessionOptions

SAVED_MODEL_FILENAME = "saved_model.pb"


@dataclasses.dataclass(frozen=True)
class Servable:
    """One loaded version of a model.

    Args:
        name: str. The model name clients ask for.
        version: int. The version number (the directory name).
        path: str. The version's SavedModel directory.
        signatures: dict[str, SessionSignature | TfliteSignature]. What
            requests run, by signature key.
        signature_defs: dict[str, SignatureDef]. The signatures as stored in
            `saved_model.pb`, reported by GetModelMetadata.
        runtime: what the signatures run on, kept alive with them: the
            SavedModel's tf.compat.v1.Session, or the LiteRT interpreter of
            a TFLite servable.
    """

    name: str
    version: int
    path: str
    signatures: dict
    signature_defs: dict
    runtime: Any = dataclasses.field(repr=False)


def find_versions(model_base_path):
    """Lists the version numbers under a model base path, ascending.

    Raises:
        FileNotFoundError: if the base path is not a directory.
    """
    if not os.path.isdir(model_base_path):
        raise FileNotFoundError(
            f"Model base path {model_base_path!r} does not exist or is not a "
            "directory. Pass --model_base_path=DIR where DIR contains one "
            "numbered subdirectory per version (e.g. DIR/1/saved_model.pb)."
        )
    versions = []
    for entry in os.scandir(model_base_path):
        if entry.is_dir() and entry.name.isdigit():
            versions.append(int(entry.name))
    return sorted(versions)


def load_servable(
    name,
    model_base_path,
    version,
    prefer_tflite=False,
    session_options=None,
):
    """Loads one version of a model from `<model_base_path>/<version>`.

    Args:
        name: str. The model name.
        model_base_path: str. The directory holding the versions.
        version: int. The version to load.
        prefer_tflite: bool. Serve `model.tflite` if the version has one.
        session_options: SessionOptions | None. Threading of a SavedModel's
            session; None: the defaults.
    """
    path = os.path.join(model_base_path, str(version))
    tflite_path = os.path.join(path, tflite_servable.TFLITE_FILENAME)
    if prefer_tflite and os.path.isfile(tflite_path):
        return _load_tflite(name, version, path, tflite_path)
    register_custom_ops()
    session_options = session_options or SessionOptions()
    # Parsed first: a file that is not a SavedModel, or has no MetaGraph
    # with these tags, gets a clear error.
    signature_defs = read_signature_defs(path, session_options.tags)
    signatures, session = session_servable.load_session_model(
        path, session_options
    )
    return Servable(
        name=name,
        version=version,
        path=path,
        signatures=signatures,
        signature_defs=signature_defs,
        runtime=session,
    )


def _load_tflite(name, version, path, tflite_path):
    signatures, signature_defs, interpreter = tflite_servable.load_tflite_model(
        tflite_path
    )
    return Servable(
        name=name,
        version=version,
        path=path,
        signatures=signatures,
        signature_defs=signature_defs,
        runtime=interpreter,
    )


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
