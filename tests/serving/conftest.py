"""Shared fixtures: a tiny two-version SavedModel and an in-process server.

The model, exported once per session, has two signatures:

- `serving_default(text: string[None], x: float32[None, 2])` returning
  `length` (int32, characters of each text) and `y` (float32, x * version);
- `decode_image(image_bytes: string[])` returning the decoded PNG's shape,
  which fails inside the graph on bytes that are not an image.

The base path also holds entries the server must ignore: an export still
being written (`.tmp-3`), a file, and a directory that is not all digits.
"""

import contextlib

import grpc
import pytest
import tensorflow as tf
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving.client import PredictionClient
from serving.server import grpc_server
from serving.server import loader
from serving.server.manager import ModelManager

MODEL_NAME = "toy"
VERSIONS = (1, 2)


class _ToyModel(tf.Module):
    def __init__(self, version):
        super().__init__()
        self.scale = tf.Variable(float(version))

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string),
            tf.TensorSpec([None, 2], tf.float32),
        ]
    )
    def serve(self, text, x):
        return {"length": tf.strings.length(text), "y": x * self.scale}

    @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
    def decode_image(self, image_bytes):
        return {"shape": tf.shape(tf.io.decode_png(image_bytes))}


def _export_toy_model(path, version):
    model = _ToyModel(version)
    signatures = {
        "serving_default": model.serve,
        "decode_image": model.decode_image,
    }
    tf.saved_model.save(model, str(path), signatures=signatures)


@pytest.fixture(scope="session")
def model_name():
    return MODEL_NAME


@pytest.fixture(scope="session")
def model_base_path(tmp_path_factory):
    base_path = tmp_path_factory.mktemp("models") / MODEL_NAME
    for version in VERSIONS:
        _export_toy_model(base_path / str(version), version)
    # An atomic export in progress, higher than any real version.
    (base_path / ".tmp-3").mkdir()
    (base_path / "4abc").mkdir()
    (base_path / "notes.txt").write_text("not a version\n")
    return base_path


@pytest.fixture(scope="session")
def latest_servable(model_base_path):
    return loader.load_latest(MODEL_NAME, str(model_base_path))


@pytest.fixture(scope="session")
def server_address(latest_servable):
    """A server like `main` runs: only the latest version is loaded."""
    manager = ModelManager()
    manager.add(latest_servable)
    server, port = grpc_server.start_grpc_server(manager, port=0)
    yield f"127.0.0.1:{port}"
    server.stop(grace=None)


@pytest.fixture(scope="session")
def prediction_client(server_address):
    with PredictionClient(server_address) as client:
        yield client


@pytest.fixture(scope="session")
def grpc_channel(server_address):
    """For requests the client never builds (raw protos, odd fields)."""
    with grpc.insecure_channel(server_address) as channel:
        yield channel


@pytest.fixture(scope="session")
def prediction_stub(grpc_channel):
    return prediction_service_pb2_grpc.PredictionServiceStub(grpc_channel)


@pytest.fixture(scope="session")
def model_stub(grpc_channel):
    return model_service_pb2_grpc.ModelServiceStub(grpc_channel)


@pytest.fixture
def expect_rpc_error():
    """`with expect_rpc_error(code, *fragments):` asserts the RPC fails so.

    Each fragment must appear in the status details.
    """

    @contextlib.contextmanager
    def check(code, *fragments):
        with pytest.raises(grpc.RpcError) as raised:
            yield raised
        details = raised.value.details()
        assert raised.value.code() == code, details
        for fragment in fragments:
            assert fragment in details

    return check
