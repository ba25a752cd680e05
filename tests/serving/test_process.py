"""ModelServerProcess: the real server binary as a subprocess."""

import re

import numpy as np
import pytest

from serving.client import PredictionClient
from serving.process import ModelServerProcess

pytestmark = pytest.mark.slow


def test_serves_the_latest_version_then_stops_cleanly(
    model_name, model_base_path
):
    x = np.array([[1.0, 2.0]], np.float32)

    with ModelServerProcess(model_name, model_base_path) as server:
        assert re.fullmatch(r"127\.0\.0\.1:\d+", server.address)
        with PredictionClient(server.address) as client:
            outputs = client.predict(model_name, {"text": ["ab"], "x": x})
            [status] = client.status(model_name)

    np.testing.assert_allclose(outputs["y"], x * 2)
    assert status["version"] == 2
    assert server.process.returncode == 0
    assert (
        f"Successfully loaded servable version {{name: {model_name} "
        "version: 2}" in server.output_tail
    )
    assert "Running gRPC ModelServer at 0.0.0.0:" in server.output_tail


def test_startup_failure_raises_with_the_server_output(tmp_path):
    missing = tmp_path / "no_such_model"
    server = ModelServerProcess("toy", missing, startup_timeout=60)

    with pytest.raises(RuntimeError) as raised:
        server.start()

    message = str(raised.value)
    assert "exited with code 1 before becoming ready" in message
    assert f"Model base path '{missing}' does not exist" in message
    assert server.process.returncode == 1
