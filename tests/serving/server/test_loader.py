import numpy as np
import pytest
import tensorflow as tf

from serving.server import loader
from serving.server.session_servable import SessionOptions


def test_versions_are_the_all_digit_directories(model_base_path):
    # .tmp-3, 4abc and notes.txt are in the base path too.
    assert loader.find_versions(str(model_base_path)) == [1, 2]


def test_latest_version_is_loaded_with_its_signatures(latest_servable):
    assert latest_servable.version == 2
    assert sorted(latest_servable.signatures) == [
        "decode_image",
        "serving_default",
    ]


def test_signature_defs_come_from_saved_model_pb(latest_servable):
    signature_def = latest_servable.signature_defs["serving_default"]

    assert signature_def.method_name == "tensorflow/serving/predict"
    assert sorted(signature_def.outputs) == ["length", "y"]
    assert "__saved_model_init_op" in latest_servable.signature_defs


def test_missing_base_path_names_the_path(tmp_path):
    missing = str(tmp_path / "nowhere")

    with pytest.raises(FileNotFoundError, match="nowhere.* does not exist"):
        loader.load_latest("toy", missing)


def test_base_path_without_versions_names_the_path(tmp_path):
    (tmp_path / ".tmp-1").mkdir()

    with pytest.raises(ValueError, match="No versions of model 'toy' found"):
        loader.load_latest("toy", str(tmp_path))


@pytest.fixture(scope="module")
def two_meta_graphs(tmp_path_factory):
    """Version 1 with MetaGraphs tagged "serve" (y = x + 1) and "serve,
    lite" (y = x * 10)."""
    path = tmp_path_factory.mktemp("tagged") / "tagged" / "1"
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None], "x")
        build = tf.compat.v1.saved_model.signature_def_utils
        plus_one = build.predict_signature_def({"x": x}, {"y": x + 1.0})
        times_ten = build.predict_signature_def({"x": x}, {"y": x * 10.0})
        with tf.compat.v1.Session(graph=graph) as session:
            builder = tf.compat.v1.saved_model.Builder(str(path))
            builder.add_meta_graph_and_variables(
                session, ["serve"], signature_def_map={"plus_one": plus_one}
            )
            builder.add_meta_graph(
                ["serve", "lite"], signature_def_map={"times_ten": times_ten}
            )
            builder.save()
    return path.parent


def test_saved_model_tags_choose_the_meta_graph(two_meta_graphs):
    servable = loader.load_servable(
        "tagged",
        str(two_meta_graphs),
        1,
        session_options=SessionOptions(tags=("lite", "serve")),
    )

    assert sorted(servable.signatures) == ["times_ten"]
    assert "plus_one" not in servable.signature_defs
    outputs = servable.signatures["times_ten"](x=[2.0])
    np.testing.assert_array_equal(outputs["y"], [20.0])


def test_default_tags_load_the_serve_meta_graph(two_meta_graphs):
    servable = loader.load_servable("tagged", str(two_meta_graphs), 1)

    assert sorted(servable.signatures) == ["plus_one"]


def test_missing_tags_name_the_ones_there_are(two_meta_graphs):
    with pytest.raises(ValueError) as raised:
        loader.load_servable(
            "tagged",
            str(two_meta_graphs),
            1,
            session_options=SessionOptions(tags=("gpu",)),
        )

    message = str(raised.value)
    assert "has no MetaGraph tagged 'gpu'" in message
    assert "['serve', 'serve,lite']" in message
