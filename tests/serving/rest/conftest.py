"""A REST server on loopback over real SavedModels, and a way to call it.

The manager serves the latest `toy` version (labelled "stable"), plus
`rest_toy` and the tf.Example model `scorer` from tests/serving/conftest.py.
"""

import json

import pytest
import requests

from serving.server.manager import ModelManager
from serving.server.metrics import Metrics
from serving.server.rest import RestServer

MONITORING_PATH = "/monitoring/prometheus/metrics"


@pytest.fixture(scope="session")
def rest_manager(latest_servable, rest_toy_servable, example_servable):
    manager = ModelManager()
    for servable in (latest_servable, rest_toy_servable, example_servable):
        manager.add(servable)
    # Only version 2 of "toy" is loaded: "old" points at a missing one.
    manager.set_labels("toy", {"stable": 2, "old": 1})
    return manager


@pytest.fixture(scope="session")
def rest_metrics():
    return Metrics()


@pytest.fixture(scope="session")
def rest_url(rest_manager, rest_metrics):
    """Base URL of a RestServer with metrics at MONITORING_PATH."""
    server = RestServer(
        rest_manager,
        port=0,
        host="127.0.0.1",
        monitoring_path=MONITORING_PATH,
        metrics=rest_metrics,
    )
    port = server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop(grace_seconds=1)


@pytest.fixture(scope="session")
def http():
    with requests.Session() as session:
        yield session


@pytest.fixture
def call(http, rest_url):
    """`call(method, path, body=None)` -> (HTTP status, parsed JSON).

    A dict or list body is sent as JSON; str or bytes as they are.
    """

    def send(method, path, body=None, headers=None):
        if isinstance(body, dict | list):
            body = json.dumps(body)
        response = http.request(
            method, rest_url + path, data=body, headers=headers, timeout=30
        )
        assert response.headers["Content-Type"].startswith("application/json")
        return response.status_code, response.json()

    return send
