"""gRPC transport: UNIX socket, channel arguments, health service, TLS,
mutual TLS and bearer tokens, over real connections."""

import subprocess

import grpc
import numpy as np
import pytest
from google.protobuf import text_format
from grpc_health.v1 import health_pb2
from grpc_health.v1 import health_pb2_grpc
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_service_pb2_grpc

from serving.client import PredictionClient
from serving.server import flags
from serving.server import settings
from serving.server.auth import BearerTokenInterceptor
from serving.server.config import messages
from serving.server.config.model_config import single_model_config
from serving.server.grpc_server import GrpcServerOptions
from serving.server.health import ServingHealth
from serving.server.manager import ModelManager
from serving.server.server_core import LoadOptions
from serving.server.server_core import ServerCore

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
LOOPBACK = "127.0.0.1"


@pytest.fixture
def core(make_base_path):
    core = ServerCore(ModelManager(), LoadOptions(max_num_load_retries=0))
    core.reload_config(single_model_config("toy", str(make_base_path(1))))
    return core


def _status(channel, metadata=None):
    stub = model_service_pb2_grpc.ModelServiceStub(channel)
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "toy"
    response = stub.GetModelStatus(request, timeout=5, metadata=metadata)
    return response.model_version_status[0].version


def _health(channel, service=""):
    stub = health_pb2_grpc.HealthStub(channel)
    request = health_pb2.HealthCheckRequest(service=service)
    return stub.Check(request, timeout=5).status


def test_unix_socket_serves_alongside_the_port(core, serve_core, tmp_path):
    socket_path = tmp_path / "grpc.sock"
    options = GrpcServerOptions(host=LOOPBACK, socket_path=str(socket_path))

    address = serve_core(core, options)

    with grpc.insecure_channel(f"unix:{socket_path}") as channel:
        assert _status(channel) == 1
    with grpc.insecure_channel(address) as channel:
        assert _status(channel) == 1


def test_channel_arguments_reach_the_server(core, serve_core):
    options = GrpcServerOptions(
        host=LOOPBACK,
        channel_arguments=(("grpc.max_receive_message_length", 1024),),
    )
    address = serve_core(core, options)
    big = np.ones((1000, 2), np.float32)

    with PredictionClient(address) as client:
        client.predict("toy", {"text": ["a"], "x": big[:1]})
        with pytest.raises(grpc.RpcError) as raised:
            client.predict("toy", {"text": ["a"] * 1000, "x": big})

    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_health_service_follows_the_server_life_cycle(core, serve_core):
    health = ServingHealth()
    address = serve_core(core, health=health)

    with grpc.insecure_channel(address) as channel:
        before = _health(channel)
        health.mark_serving()
        serving = [
            _health(channel, name)
            for name in (
                "",
                "tensorflow.serving.PredictionService",
                "tensorflow.serving.ModelService",
            )
        ]
        health.mark_shutting_down()
        after = _health(channel)

    assert before == NOT_SERVING
    assert serving == [SERVING] * 3
    assert after == NOT_SERVING


def test_bearer_token_is_required_except_for_health(core, serve_core):
    health = ServingHealth()
    health.mark_serving()
    options = GrpcServerOptions(
        host=LOOPBACK, interceptors=(BearerTokenInterceptor("s3cret"),)
    )
    address = serve_core(core, options, health=health)

    with grpc.insecure_channel(address) as channel:
        assert _status(channel, [("authorization", "Bearer s3cret")]) == 1
        assert _health(channel) == SERVING
        for metadata in (None, [("authorization", "Bearer wrong")]):
            with pytest.raises(grpc.RpcError) as raised:
                _status(channel, metadata)
            assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "bearer token" in raised.value.details()


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _signed_key_pair(directory, name, subject_alt_name):
    key_options = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    _openssl(
        "req", *key_options, "-nodes", "-keyout", f"{name}.key",
        "-out", f"{name}.csr", "-subj", f"/CN={name}",
        cwd=directory,
    )  # fmt: skip
    (directory / f"{name}.ext").write_text(f"subjectAltName={subject_alt_name}")
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem",
        "-CAkey", "ca.key", "-CAcreateserial", "-days", "1",
        "-extfile", f"{name}.ext", "-out", f"{name}.pem",
        cwd=directory,
    )  # fmt: skip
    return (
        (directory / f"{name}.key").read_bytes(),
        (directory / f"{name}.pem").read_bytes(),
    )


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A test CA, a server certificate for 127.0.0.1 and a client one."""
    directory = tmp_path_factory.mktemp("pki")
    _openssl(
        "req", "-x509", "-newkey", "ec",
        "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
        "-subj", "/CN=test-ca",
        cwd=directory,
    )  # fmt: skip
    return {
        "ca": (directory / "ca.pem").read_bytes(),
        "server": _signed_key_pair(directory, "server", "IP:127.0.0.1"),
        "client": _signed_key_pair(directory, "client", "DNS:client"),
    }


def _tls_options(certificates, tmp_path, client_verify):
    """Credentials read the way the server reads --ssl_config_file."""
    key, cert = certificates["server"]
    ssl_config = messages.SSLConfig(
        server_key=key.decode(),
        server_cert=cert.decode(),
        custom_ca=certificates["ca"].decode(),
        client_verify=client_verify,
    )
    path = tmp_path / "ssl.config"
    path.write_text(text_format.MessageToString(ssl_config))
    read = settings.read_settings(
        flags.parse_flags(
            [f"--model_base_path={tmp_path}", f"--ssl_config_file={path}"]
        )
    )
    return GrpcServerOptions(host=LOOPBACK, credentials=read.credentials)


def _tls_channel(address, certificates, with_client_cert):
    key, cert = certificates["client"] if with_client_cert else (None, None)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=certificates["ca"],
        private_key=key,
        certificate_chain=cert,
    )
    return grpc.secure_channel(address, credentials)


def test_tls_serves_encrypted_and_refuses_plaintext(
    core, serve_core, certificates, tmp_path
):
    address = serve_core(core, _tls_options(certificates, tmp_path, False))

    with _tls_channel(address, certificates, with_client_cert=False) as channel:
        assert _status(channel) == 1
    with grpc.insecure_channel(address) as channel:
        with pytest.raises(grpc.RpcError) as raised:
            _status(channel)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_requires_a_client_certificate(
    core, serve_core, certificates, tmp_path
):
    address = serve_core(core, _tls_options(certificates, tmp_path, True))

    with _tls_channel(address, certificates, with_client_cert=True) as channel:
        assert _status(channel) == 1
    with _tls_channel(address, certificates, with_client_cert=False) as channel:
        with pytest.raises(grpc.RpcError) as raised:
            _status(channel)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
