"""SavedModel signatures run in a Session, as TensorFlow Serving runs them."""

import gc
import weakref
from concurrent import futures

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import config_pb2
from tensorflow.core.protobuf import rewriter_config_pb2

from serving.server import session_servable
from serving.server.session_servable import SessionOptions


@pytest.fixture(scope="module")
def toy_signatures(model_base_path):
    # The shared toy model, version 2: y = 2x, length = characters.
    signatures, session = session_servable.load_session_model(
        str(model_base_path / "2")
    )
    yield signatures
    session.close()


def test_signatures_are_the_signature_defs_without_the_init_op(
    toy_signatures,
):
    assert sorted(toy_signatures) == ["decode_image", "serving_default"]


def test_specs_come_from_the_signature_def(toy_signatures):
    signature = toy_signatures["serving_default"]

    assert signature.input_specs == {
        "text": tf.TensorSpec([None], tf.string, "text"),
        "x": tf.TensorSpec([None, 2], tf.float32, "x"),
    }
    assert signature.output_specs == {
        "length": tf.TensorSpec([None], tf.int32, "length"),
        "y": tf.TensorSpec([None, 2], tf.float32, "y"),
    }


def test_run_takes_and_returns_numpy_arrays(toy_signatures):
    outputs = toy_signatures["serving_default"].run(
        {
            "text": np.array([b"abc", b""], dtype=object),
            "x": np.array([[1.0, -2.0], [0.5, 3.0]], np.float32),
        },
        ("y", "length"),
    )

    assert list(outputs) == ["y", "length"]
    np.testing.assert_array_equal(outputs["y"], [[2.0, -4.0], [1.0, 6.0]])
    np.testing.assert_array_equal(outputs["length"], [3, 0])
    assert outputs["length"].dtype == np.int32


def test_run_returns_only_the_outputs_asked_for(toy_signatures):
    outputs = toy_signatures["serving_default"].run(
        {
            "text": np.array([b"hello"], dtype=object),
            "x": np.zeros([1, 2], np.float32),
        },
        ("length",),
    )

    assert list(outputs) == ["length"]
    np.testing.assert_array_equal(outputs["length"], [5])


def test_calling_by_keyword_converts_and_returns_every_output(
    toy_signatures,
):
    outputs = toy_signatures["serving_default"](text=[b"a"], x=[[1, 2]])

    assert sorted(outputs) == ["length", "y"]
    np.testing.assert_array_equal(outputs["y"], [[2.0, 4.0]])


def test_a_missing_keyword_input_is_named(toy_signatures):
    with pytest.raises(TypeError, match=r"Missing inputs: \['text'\]"):
        toy_signatures["serving_default"](x=np.ones([1, 2], np.float32))


def test_a_failing_op_raises_its_tensorflow_error(toy_signatures):
    with pytest.raises(tf.errors.InvalidArgumentError):
        toy_signatures["decode_image"](
            image_bytes=np.array(b"not a png", dtype=object)
        )


def test_concurrent_runs_get_their_own_answers(toy_signatures):
    signature = toy_signatures["serving_default"]

    def run(scale):
        x = np.full([scale + 1, 2], scale, np.float32)
        text = np.array([b"x" * scale] * (scale + 1), dtype=object)
        return scale, signature.run({"text": text, "x": x}, ("y", "length"))

    with futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, range(24)))

    for scale, outputs in results:
        np.testing.assert_array_equal(
            outputs["y"], np.full([scale + 1, 2], 2.0 * scale)
        )
        np.testing.assert_array_equal(outputs["length"], [scale] * (scale + 1))


def test_default_thread_counts_let_tensorflow_pick():
    config = SessionOptions().config_proto()

    assert config.inter_op_parallelism_threads == 0
    assert config.intra_op_parallelism_threads == 0


def test_explicit_thread_counts_reach_the_session_config():
    config = SessionOptions(3, 2).config_proto()

    assert config.intra_op_parallelism_threads == 3
    assert config.inter_op_parallelism_threads == 2


def test_session_config_file_gpu_share_and_bfloat16_reach_the_session(
    model_base_path,
):
    base = config_pb2.ConfigProto(allow_soft_placement=True)
    base.gpu_options.per_process_gpu_memory_fraction = 0.5
    base.intra_op_parallelism_threads = 9
    options = SessionOptions(
        1, 0, config=base.SerializeToString(), mixed_precision="bfloat16"
    )

    config = options.config_proto()
    signatures, session = session_servable.load_session_model(
        str(model_base_path / "2"), options
    )

    assert config.allow_soft_placement
    assert config.gpu_options.per_process_gpu_memory_fraction == 0.5
    assert config.intra_op_parallelism_threads == 1
    rewrite = config.graph_options.rewrite_options
    assert rewrite.auto_mixed_precision_onednn_bfloat16 == (
        rewriter_config_pb2.RewriterConfig.ON
    )
    outputs = signatures["serving_default"](text=["ab"], x=[[1.0, 3.0]])
    np.testing.assert_array_equal(outputs["y"], [[2.0, 6.0]])
    session.close()


def test_signatures_with_sparse_tensors_are_left_out(tmp_path):
    graph = tf.Graph()
    with graph.as_default():
        dense = tf.compat.v1.placeholder(tf.float32, [None], "dense")
        sparse = tf.compat.v1.sparse_placeholder(tf.float32, name="sparse")
        build = tf.compat.v1.saved_model.signature_def_utils
        signature_def_map = {
            "dense": build.predict_signature_def(
                {"x": dense}, {"y": dense * 2.0}
            ),
            "sparse": build.predict_signature_def(
                {"x": sparse}, {"y": tf.sparse.reduce_sum(sparse)}
            ),
        }
        with tf.compat.v1.Session(graph=graph) as session:
            builder = tf.compat.v1.saved_model.Builder(str(tmp_path / "1"))
            builder.add_meta_graph_and_variables(
                session, ["serve"], signature_def_map=signature_def_map
            )
            builder.save()

    signatures, session = session_servable.load_session_model(
        str(tmp_path / "1")
    )

    assert sorted(signatures) == ["dense"]
    np.testing.assert_array_equal(
        signatures["dense"](x=np.array([1.5], np.float32))["y"], [3.0]
    )
    session.close()


def test_dropping_the_signatures_frees_the_session(model_base_path):
    # An unloaded version must give its variables' memory back.
    signatures, session = session_servable.load_session_model(
        str(model_base_path / "1")
    )
    signatures["serving_default"](text=[b"a"], x=[[1.0, 2.0]])
    session_ref = weakref.ref(session)
    graph_ref = weakref.ref(session.graph)

    del signatures, session
    gc.collect()

    assert session_ref() is None
    assert graph_ref() is None
