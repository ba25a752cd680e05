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
import datetime
import ipaddress
import shutil
import time
from concurrent import futures

import grpc
import pytest
import tensorflow as tf
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import prediction_service_pb2_grpc

from serving.client import PredictionClient
from serving.server import grpc_server
from serving.server import loader
from serving.server import method_names
from serving.server.manager import ModelManager
from serving.server.prediction_service import PredictionService

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


@pytest.fixture
def start_prediction_server():
    """`start_prediction_server(manager, **kwargs)` -> (stub, service).

    Serves only `PredictionService(manager, **kwargs)` (batching options,
    limits, on_batch) on a loopback port, with enough threads for
    concurrent-request tests. Everything started is stopped afterwards.
    """
    started = []

    def start(manager, **service_kwargs):
        service = PredictionService(manager, **service_kwargs)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            service, server
        )
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        started.append((server, channel, service))
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        return stub, service

    yield start
    for server, channel, service in started:
        channel.close()
        server.stop(grace=None)
        service.close()


@pytest.fixture(scope="session")
def toy_versions(tmp_path_factory):
    """Exported toy versions 1-3 (y = x * version), to copy from."""
    library = tmp_path_factory.mktemp("toy_versions")
    for version in (1, 2, 3):
        _export_toy_model(library / str(version), version)
    return library


@pytest.fixture
def add_toy_version(toy_versions):
    """`add_toy_version(base_path, version)` copies a version in atomically,
    as a careful exporter does (copy aside, then rename into place)."""

    def add(base_path, version):
        base_path.mkdir(parents=True, exist_ok=True)
        staging = base_path / f".tmp-{version}"
        shutil.copytree(toy_versions / str(version), staging)
        staging.rename(base_path / str(version))
        return base_path / str(version)

    return add


@pytest.fixture
def make_base_path(tmp_path, add_toy_version):
    """`make_base_path(*versions, name="toy")` -> a new base path."""

    def make(*versions, name=MODEL_NAME):
        base_path = tmp_path / name
        base_path.mkdir()
        for version in versions:
            add_toy_version(base_path, version)
        return base_path

    return make


@pytest.fixture
def add_corrupt_version():
    """`add_corrupt_version(base_path, version)`: a saved_model.pb that is
    not a SavedModel."""

    def add(base_path, version):
        version_path = base_path / str(version)
        version_path.mkdir()
        (version_path / "saved_model.pb").write_bytes(b"not a saved model")
        return version_path

    return add


@pytest.fixture
def wait_until():
    """`wait_until(condition, timeout=10)` polls until condition() is true;
    fails the test after `timeout` seconds instead of hanging."""

    def wait(condition, timeout=10.0, interval=0.02):
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"condition not met within {timeout} s")
            time.sleep(interval)

    return wait


@pytest.fixture
def serve_core():
    """`serve_core(core, options=None, health=None)` serves a ServerCore's
    manager on a loopback port and returns "127.0.0.1:PORT"; every server
    started is stopped after the test."""
    servers = []

    def serve(core, options=None, health=None):
        options = options or grpc_server.GrpcServerOptions(host="127.0.0.1")
        server, port = grpc_server.start_grpc_server(
            core.manager, 0, options, core=core, health=health
        )
        servers.append(server)
        return f"127.0.0.1:{port}"

    yield serve
    for server in servers:
        server.stop(grace=None)


EXAMPLE_MODEL_NAME = "scorer"


def _export_example_model(path):
    """A TF1-style export, as Estimators wrote them, for Classify/Regress.

    Every signature takes the same placeholder of serialized tf.Examples
    with features x (2 floats) and bias (1 float, default 0):

    - `classify` (and `serving_default`): classes [["neg", "pos"]] per
      example, scores x + bias;
    - `regress`: outputs 2 * x[0] + x[1] + bias;
    - `predict_scores`: a predict signature returning the same scores.
    """
    graph = tf.Graph()
    with graph.as_default():
        examples = tf.compat.v1.placeholder(tf.string, [None], "tf_example")
        features = tf.io.parse_example(
            examples,
            {
                "x": tf.io.FixedLenFeature([2], tf.float32),
                "bias": tf.io.FixedLenFeature([1], tf.float32, [0.0]),
            },
        )
        scores = features["x"] + features["bias"]
        classes = tf.tile([["neg", "pos"]], [tf.shape(examples)[0], 1])
        value = features["x"] @ [[2.0], [1.0]] + features["bias"]
        signatures = tf.compat.v1.saved_model.signature_def_utils
        classify = signatures.classification_signature_def(
            examples, classes, scores
        )
        signature_def_map = {
            "serving_default": classify,
            "classify": classify,
            "regress": signatures.regression_signature_def(
                examples, tf.squeeze(value, 1)
            ),
            "predict_scores": signatures.predict_signature_def(
                {"inputs": examples}, {"scores": scores}
            ),
        }
        with tf.compat.v1.Session(graph=graph) as session:
            builder = tf.compat.v1.saved_model.Builder(str(path))
            builder.add_meta_graph_and_variables(
                session, ["serve"], signature_def_map=signature_def_map
            )
            builder.save()


@pytest.fixture(scope="session")
def example_servable(tmp_path_factory):
    base_path = tmp_path_factory.mktemp("example_models") / EXAMPLE_MODEL_NAME
    _export_example_model(base_path / "1")
    return loader.load_servable(EXAMPLE_MODEL_NAME, str(base_path), 1)


@pytest.fixture(scope="session")
def example_stub(example_servable):
    """A PredictionService stub for a server holding `example_servable`."""
    manager = ModelManager()
    manager.add(example_servable)
    service = PredictionService(manager)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        service, server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield prediction_service_pb2_grpc.PredictionServiceStub(channel)
    server.stop(grace=None)


@pytest.fixture
def method_name_check():
    """Turns --enable_signature_method_name_check on for one test."""
    method_names.enable_check(True)
    yield
    method_names.enable_check(False)


@pytest.fixture
def make_example():
    """`make_example(x=[1.0, 2.0], bias=[0.5])` -> a tf.train.Example."""

    def make(**features):
        return tf.train.Example(
            features=tf.train.Features(
                feature={
                    name: tf.train.Feature(
                        float_list=tf.train.FloatList(value=values)
                    )
                    for name, values in features.items()
                }
            )
        )

    return make


# Models and certificates for the REST, metrics and client tests:
#
# - `rest_toy`, whose signatures cover the JSON mapping:
#   `serving_default(x: float32[None]) -> y = 0.5 * x + 2` (one input, one
#   output: plain "predictions"); `typed` with float64, int64, int8, bool
#   and string inputs echoed back (the string twice: as `echo_bytes`, which
#   REST writes as base64, and as `text`); `scalar_out` with a rank-0
#   output;
#
# and `tls_certs`: a CA with a server certificate (for 127.0.0.1 and
# localhost) and a client certificate, generated once per session.


class _RestToy(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def half_plus_two(self, x):
        return {"y": 0.5 * x + 2.0}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.float64),
            tf.TensorSpec([None], tf.int64),
            tf.TensorSpec([None], tf.int8),
            tf.TensorSpec([None], tf.bool),
            tf.TensorSpec([None], tf.string),
        ]
    )
    def typed(self, doubles, counts, small, flags, data):
        return {
            "doubles": doubles * 2.0,
            "counts": counts + 1,
            "small": small,
            "flags": tf.logical_not(flags),
            "echo_bytes": data,
            "text": data,
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def scalar_out(self, x):
        return {"total": tf.reduce_sum(x), "y": x}


def _export_rest_toy(path):
    model = _RestToy()
    signatures = {
        "serving_default": model.half_plus_two,
        "typed": model.typed,
        "scalar_out": model.scalar_out,
    }
    tf.saved_model.save(model, str(path), signatures=signatures)


@pytest.fixture(scope="session")
def rest_toy_servable(tmp_path_factory):
    base_path = tmp_path_factory.mktemp("rest_toy")
    _export_rest_toy(base_path / "1")
    return loader.load_servable("rest_toy", str(base_path), 1)


@pytest.fixture(scope="session")
def tls_certs():
    """PEM bytes: ca, server_cert, server_key, client_cert, client_key."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _certificate("test-ca", ca_key, ca_key, None, is_ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_names = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    server_cert = _certificate(
        "localhost", server_key, ca_key, ca_cert, names=server_names
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client_cert = _certificate("test-client", client_key, ca_key, ca_cert)
    return {
        "ca": _pem(ca_cert),
        "server_cert": _pem(server_cert),
        "server_key": _pem(server_key),
        "client_cert": _pem(client_cert),
        "client_key": _pem(client_key),
    }


def _certificate(name, key, signing_key, issuer, is_ca=False, names=()):
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.BasicConstraints(ca=is_ca, path_length=None), critical=True
        )
    )
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(names), critical=False
        )
    return builder.sign(signing_key, hashes.SHA256())


def _pem(key_or_cert):
    if isinstance(key_or_cert, x509.Certificate):
        return key_or_cert.public_bytes(serialization.Encoding.PEM)
    return key_or_cert.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
