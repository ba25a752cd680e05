"""Running a SavedModel's signatures in a TensorFlow Session.

TensorFlow Serving loads a SavedModel into a Session and answers a request
with one Session::Run that feeds the signature's input tensors by name.
This module does the same: the servable holds a `tf.compat.v1.Session`
over the SavedModel's serving MetaGraph, and each signature is one session
callable, made at load time, that fetches all of its outputs. (A TF2
export computes every output in one function call anyway, so fetching a
subset would save nothing, and one callable per signature keeps the
memory bounded whatever `output_filter`s clients send.)

Compared with calling the tf.function signatures of `tf.saved_model.load`,
a session callable takes and returns numpy arrays with no per-call
structured-argument handling: a call to a tiny model takes about 10 us,
against about 80 us through `Session.run` and about 170 us through the
tf.function, on this project's 2-core machine (scripts/bench_serving.py
compares the two on a real model).
"""

import contextlib
import dataclasses
import logging

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import config_pb2
from tensorflow.core.protobuf import rewriter_config_pb2

DEFAULT_TAGS = ("serve",)
# The one --mixed_precision mode TensorFlow Serving supports.
BFLOAT16 = "bfloat16"
_ON = rewriter_config_pb2.RewriterConfig.ON
# The SavedModel's initialization op (tables, assets) is stored among the
# SignatureDefs; the loader runs it, clients cannot call it.
INIT_OP_SIGNATURE_KEY = "__saved_model_init_op"

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SessionOptions:
    """How a SavedModel is loaded into a Session, from TensorFlow Serving's
    flags.

    Args:
        intra_op_parallelism: int. Threads one op (e.g. a matmul) may use;
            0 lets TensorFlow pick (one per core).
        inter_op_parallelism: int. Threads running independent ops at
            once; 0 lets TensorFlow pick.
        tags: tuple[str, ...]. The tag set of the MetaGraph to load
            (--saved_model_tags).
        config: bytes. A serialized tf.compat.v1.ConfigProto the rest is
            set into (--tensorflow_session_config_file,
            --per_process_gpu_memory_fraction, a platform config's
            session_config); its thread counts are replaced by the two
            above.
        mixed_precision: str. "bfloat16" turns on oneDNN bfloat16 auto
            mixed precision (--mixed_precision); "" leaves it off.
    """

    intra_op_parallelism: int = 0
    inter_op_parallelism: int = 0
    tags: tuple = DEFAULT_TAGS
    config: bytes = b""
    mixed_precision: str = ""

    def config_proto(self):
        config = config_pb2.ConfigProto.FromString(self.config)
        config.intra_op_parallelism_threads = self.intra_op_parallelism
        config.inter_op_parallelism_threads = self.inter_op_parallelism
        if self.mixed_precision == BFLOAT16:
            rewrite = config.graph_options.rewrite_options
            rewrite.auto_mixed_precision_onednn_bfloat16 = _ON
        return config


class SessionSignature:
    """One SignatureDef of a SavedModel loaded in a Session. Thread-safe.

    Args:
        session: tf.compat.v1.Session holding the SavedModel.
        signature_def: SignatureDef whose inputs and outputs are dense
            tensors named in `session`'s graph.

    Attributes:
        input_specs: dict[str, tf.TensorSpec]. The inputs by alias.
        output_specs: dict[str, tf.TensorSpec]. The outputs by alias.
        feed_names: dict[str, str]. The graph tensor each input feeds.
        defaults: dict[str, np.ndarray]. The values fed for inputs a call
            leaves out (SignatureDef.defaults, which a TF2 signature gets
            from its function's default arguments).
    """

    def __init__(self, session, signature_def):
        self._input_aliases = tuple(sorted(signature_def.inputs))
        self.feed_names = {
            alias: signature_def.inputs[alias].name
            for alias in self._input_aliases
        }
        self._output_aliases = tuple(sorted(signature_def.outputs))
        self.input_specs = _tensor_specs(signature_def.inputs)
        self.output_specs = _tensor_specs(signature_def.outputs)
        self.defaults = signature_defaults(signature_def)
        self._run_all = _make_callable(
            session,
            feeds=list(self.feed_names.values()),
            fetches=[
                signature_def.outputs[alias].name
                for alias in self._output_aliases
            ],
        )

    def run(self, inputs, output_aliases):
        """Runs the graph once.

        Args:
            inputs: dict[str, np.ndarray]. One array per input alias, with
                exactly the input's dtype (strings as object arrays of
                bytes): nothing is converted here. Inputs with a default
                may be left out.
            output_aliases: tuple[str, ...]. The outputs to return.

        Returns:
            dict[str, np.ndarray], the outputs in `output_aliases`.

        Raises:
            tf.errors.OpError: if the model fails on these inputs.
        """
        values = self._run_all(
            *(
                inputs[alias] if alias in inputs else self.defaults[alias]
                for alias in self._input_aliases
            )
        )
        outputs = dict(zip(self._output_aliases, values, strict=True))
        return {alias: outputs[alias] for alias in output_aliases}

    def __call__(self, **inputs):
        """Runs the graph for every output; inputs by keyword, converted
        to the inputs' dtypes."""
        missing = set(self._input_aliases) - set(inputs) - set(self.defaults)
        if missing:
            raise TypeError(f"Missing inputs: {sorted(missing)}")
        arrays = {
            alias: np.asarray(
                value, self.input_specs[alias].dtype.as_numpy_dtype
            )
            for alias, value in inputs.items()
        }
        return self.run(arrays, self._output_aliases)


def load_session_model(path, options=SessionOptions()):
    """Loads the MetaGraph tagged `options.tags` of the SavedModel at `path`.

    Variables are restored and the initialization op (tables, assets) is
    run, as TensorFlow Serving's loader does.

    Returns:
        (signatures, session): SessionSignature by key, and the session.

    Raises:
        OSError, ValueError, tf.errors.OpError: if the SavedModel cannot be
            read or restored.
    """
    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph, config=options.config_proto())
    try:
        with graph.as_default(), _without_deprecation_notice():
            meta_graph = tf.compat.v1.saved_model.load(
                session, list(options.tags), path
            )
    except BaseException:
        session.close()
        raise
    signatures = {
        key: SessionSignature(session, signature_def)
        for key, signature_def in meta_graph.signature_def.items()
        if key != INIT_OP_SIGNATURE_KEY and _is_dense(key, signature_def)
    }
    return signatures, session


def _make_callable(session, feeds, fetches):
    """A callable(*feed_arrays) -> list of fetched arrays."""
    options = config_pb2.CallableOptions(feed=feeds, fetch=fetches)
    # The public make_callable(fetches, feed_list) falls back to a full
    # Session.run per call; this is the direct callable it used to build
    # (tensorflow is pinned to a minor version in setup.py, and
    # tests/serving/server/test_session_servable.py runs it).
    return session._make_callable_from_options(options)


def _tensor_specs(tensor_infos):
    return {
        alias: tf.TensorSpec(
            tf.TensorShape(info.tensor_shape), tf.as_dtype(info.dtype), alias
        )
        for alias, info in tensor_infos.items()
    }


def signature_defaults(signature_def):
    """The default value of each input that has one, as numpy arrays.

    Read once at load: they are the model's own constants, not a client's
    input, so the request limits do not apply to them.
    """
    return {
        alias: tf.make_ndarray(proto)
        for alias, proto in signature_def.defaults.items()
        if alias in signature_def.inputs
    }


def _is_dense(key, signature_def):
    infos = [*signature_def.inputs.values(), *signature_def.outputs.values()]
    if all(info.WhichOneof("encoding") == "name" for info in infos):
        return True
    # Like TensorFlow Serving's Predict, which feeds and fetches by name.
    logger.warning(
        "Signature %r has sparse or composite tensors; it is not served.", key
    )
    return False


@contextlib.contextmanager
def _without_deprecation_notice():
    """Hides the v1 loader's one-time "use tf.saved_model.load" warning.

    The v1 loader is what serving needs (a Session, as TensorFlow Serving
    uses); its deprecation notice would only mislead readers of the log.
    """
    deprecation_filter = _DeprecationFilter()
    tf.get_logger().addFilter(deprecation_filter)
    try:
        yield
    finally:
        tf.get_logger().removeFilter(deprecation_filter)


class _DeprecationFilter(logging.Filter):
    def filter(self, record):
        return "is deprecated" not in record.getMessage()
