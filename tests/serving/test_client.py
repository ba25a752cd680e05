"""PredictionClient behaviour that is the client's own, not the server's."""

import socket

import grpc
import numpy as np
import pytest

from serving import client


def test_default_signature_is_tensorflows():
    assert client.DEFAULT_SIGNATURE == "serving_default"


def test_predict_returns_numpy_arrays_keyed_by_output(
    prediction_client, model_name
):
    outputs = prediction_client.predict(
        model_name,
        {"text": np.array(["abc"]), "x": np.zeros((1, 2), np.float32)},
    )

    assert outputs["length"].dtype == np.int32
    assert outputs["y"].shape == (1, 2)


def test_scalar_bytes_is_a_rank_0_string(prediction_client, model_name):
    # decode_image takes a scalar: a lone bytes value must not gain a batch.
    with pytest.raises(grpc.RpcError) as raised:
        prediction_client.predict(
            model_name, {"image_bytes": b"x"}, signature_name="decode_image"
        )

    assert "Unknown image file format" in raised.value.details()


def test_rpc_errors_propagate_with_code_and_details(prediction_client):
    with pytest.raises(grpc.RpcError) as raised:
        prediction_client.status("missing")

    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert "missing" in raised.value.details()


def test_unreachable_server_is_unavailable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    with client.PredictionClient(f"127.0.0.1:{closed_port}", 2.0) as dead:
        with pytest.raises(grpc.RpcError) as raised:
            dead.status("toy")

    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def test_closed_client_cannot_be_used(server_address, model_name):
    prediction_client = client.PredictionClient(server_address)
    prediction_client.close()

    with pytest.raises(ValueError, match="closed channel"):
        prediction_client.status(model_name)
