"""RestClient against a real RestServer over loopback.

`toy` v2 gives length(text) and y = 2 * x; `rest_toy` gives
y = 0.5 * x + 2 and, with signature `typed`, echoes typed inputs.
"""

import ssl

import numpy as np
import pytest

from serving.client import RestClient
from serving.client import RestError
from serving.server.manager import ModelManager
from serving.server.rest import RestServer

TOY_INPUTS = {"text": ["a", "héllo"], "x": np.array([[1, 2], [3, -4]], "f4")}


@pytest.fixture(scope="module")
def manager(latest_servable, rest_toy_servable):
    manager = ModelManager()
    manager.add(latest_servable)
    manager.add(rest_toy_servable)
    return manager


@pytest.fixture
def serve(manager):
    """`serve(**RestServer kwargs)` -> base URL; stopped afterwards."""
    servers = []

    def start(scheme="http", **kwargs):
        server = RestServer(manager, 0, host="127.0.0.1", **kwargs)
        servers.append(server)
        return f"{scheme}://127.0.0.1:{server.start()}"

    yield start
    for server in servers:
        server.stop(0)


@pytest.fixture
def client(serve):
    with RestClient(serve()) as client:
        yield client


@pytest.mark.parametrize("row_format", [False, True])
def test_predict_named_outputs(client, row_format):
    outputs = client.predict("toy", TOY_INPUTS, row_format=row_format)

    assert sorted(outputs) == ["length", "y"]
    np.testing.assert_array_equal(outputs["length"], [1, 6])
    np.testing.assert_allclose(outputs["y"], [[2, 4], [6, -8]])


@pytest.mark.parametrize("row_format", [False, True])
def test_a_lone_output_comes_back_as_an_array(client, row_format):
    outputs = client.predict(
        "rest_toy", np.array([1.0, 2.0]), row_format=row_format
    )

    np.testing.assert_allclose(outputs, [2.5, 3.0])


def test_bytes_round_trip_as_b64(client):
    inputs = {
        "doubles": [1.0],
        "counts": [1],
        "small": [1],
        "flags": [True],
        "data": [b"\x00\xff"],
    }

    outputs = client.predict("rest_toy", inputs, signature_name="typed")

    assert outputs["echo_bytes"].tolist() == [b"\x00\xff"]
    assert outputs["text"].tolist() == [b"\x00\xff"]
    assert outputs["flags"].tolist() == [False]


def test_version_and_label_in_the_url(client):
    outputs = client.predict("toy", TOY_INPUTS, version=2)

    np.testing.assert_array_equal(outputs["length"], [1, 6])
    with pytest.raises(ValueError, match="not both"):
        client.predict("toy", TOY_INPUTS, version=2, label="stable")


def test_metadata_matches_the_grpc_client(client, prediction_client):
    assert client.metadata("toy") == prediction_client.metadata("toy")


def test_status_matches_the_grpc_client(client, prediction_client):
    assert client.status("toy") == prediction_client.status("toy")


def test_errors_carry_http_status_and_message(client):
    with pytest.raises(RestError) as raised:
        client.predict("nope", [1.0])

    assert raised.value.status == 404
    assert (
        raised.value.message == "Servable not found for request: Latest(nope)"
    )


def test_token(serve):
    url = serve(auth_token="s3cret")

    with RestClient(url, token="s3cret") as client:
        outputs = client.predict("rest_toy", [2.0])
    with RestClient(url) as anonymous:
        with pytest.raises(RestError) as raised:
            anonymous.status("toy")

    np.testing.assert_allclose(outputs, [3.0])
    assert raised.value.status == 401


def test_https(serve, tls_certs, tmp_path):
    for name in ("server_cert", "server_key", "ca"):
        (tmp_path / f"{name}.pem").write_bytes(tls_certs[name])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(
        tmp_path / "server_cert.pem", tmp_path / "server_key.pem"
    )
    url = serve(scheme="https", ssl_context=context)

    with RestClient(url, verify=str(tmp_path / "ca.pem")) as client:
        statuses = client.status("toy")

    assert statuses[0]["state"] == "AVAILABLE"
