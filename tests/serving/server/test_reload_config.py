"""ModelService.HandleReloadConfigRequest over real gRPC."""

import grpc
import numpy as np
import pytest
from tensorflow_serving.apis import model_management_pb2
from tensorflow_serving.apis import model_service_pb2_grpc

from serving.client import PredictionClient
from serving.server.config import messages
from serving.server.config.text_proto import parse_text_proto
from serving.server.manager import ModelManager
from serving.server.server_core import LoadOptions
from serving.server.server_core import ServerCore

X = np.array([[1.0, 2.0]], np.float32)
INVALID = grpc.StatusCode.INVALID_ARGUMENT


def _request(text):
    return model_management_pb2.ReloadConfigRequest(
        config=parse_text_proto(text, messages.ModelServerConfig, "test")
    )


def _entry(name, base_path, extra=""):
    return (
        f'config {{ name: "{name}" base_path: "{base_path}" '
        f'model_platform: "tensorflow" {extra} }}'
    )


@pytest.fixture
def served(serve_core):
    core = ServerCore(ModelManager(), LoadOptions(max_num_load_retries=0))
    address = serve_core(core)
    channel = grpc.insecure_channel(address)
    yield model_service_pb2_grpc.ModelServiceStub(channel), address
    channel.close()


def test_reload_adds_changes_and_removes_models(served, make_base_path):
    stub, address = served
    alpha = make_base_path(1, 2, name="alpha")
    beta = make_base_path(3, name="beta")

    response = stub.HandleReloadConfigRequest(
        _request(
            f"model_config_list {{ {_entry('alpha', alpha)} "
            f"{_entry('beta', beta)} }}"
        )
    )
    assert response.status.error_code == 0
    assert response.status.error_message == ""
    with PredictionClient(address) as client:
        assert client.predict("beta", {"text": ["a"], "x": X})["y"][0, 0] == 3
        stub.HandleReloadConfigRequest(
            _request(
                "model_config_list { "
                + _entry("alpha", alpha, "model_version_policy { all {} }")
                + " }"
            )
        )
        alpha_states = [
            (s["version"], s["state"]) for s in client.status("alpha")
        ]
        beta_states = [s["state"] for s in client.status("beta")]
        with pytest.raises(grpc.RpcError) as raised:
            client.predict("beta", {"text": ["a"], "x": X})

    assert alpha_states == [(2, "AVAILABLE"), (1, "AVAILABLE")]
    assert beta_states == ["END"]
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    "config_text, message",
    [
        (
            "",
            "ServerModelConfig type not supported by "
            "HandleReloadConfigRequest. Only ModelConfigList is currently "
            "supported",
        ),
        (
            "model_config_list { "
            + _entry("a", "/m/a")
            + _entry("a", "/m/b")
            + " }",
            "Illegal to list model a multiple times in config list",
        ),
        (
            "model_config_list { " + _entry("a", "relative/a") + " }",
            "Expected model a to have an absolute path or URI; got "
            "base_path()=relative/a",
        ),
        (
            'model_config_list { config { name: "a" base_path: "/m/a" } }',
            "nor ModelServerConfig::model_platform",
        ),
        (
            'model_config_list { config { name: "a" base_path: "/m/a" '
            'model_platform: "pytorch" } }',
            "Model a requests unsupported platform pytorch",
        ),
    ],
)
def test_invalid_configs_are_invalid_argument(
    served, expect_rpc_error, config_text, message
):
    stub, _ = served

    with expect_rpc_error(INVALID, message):
        stub.HandleReloadConfigRequest(_request(config_text))


def test_new_model_that_cannot_load_fails_the_reload(
    served, make_base_path, add_corrupt_version, expect_rpc_error
):
    stub, _ = served
    base_path = make_base_path(name="broken")
    add_corrupt_version(base_path, 1)

    with expect_rpc_error(
        grpc.StatusCode.UNKNOWN,
        "1 model(s) did not become available: {{name: broken} due to error: "
        "version 1: ",
    ):
        stub.HandleReloadConfigRequest(
            _request(f"model_config_list {{ {_entry('broken', base_path)} }}")
        )
