"""The deployment files agree with each other and with the server's flags
and config formats (no Docker or cluster needed to check that)."""

import pathlib

import pytest
import yaml

import serving
from serving.server import flags
from serving.server.config import messages
from serving.server.config.model_config import validate_model_server_config
from serving.server.config.text_proto import parse_text_proto
from serving.server.config.text_proto import read_text_proto

DEPLOY = pathlib.Path(serving.__file__).parent / "deploy"
# What the official image's entrypoint passes before the user's flags.
ENTRYPOINT_FLAGS = ["--port=8500", "--rest_api_port=8501"]


@pytest.fixture(scope="module")
def compose_service():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return compose["services"]["tensorflow-serving"]


@pytest.fixture(scope="module")
def kubernetes():
    documents = yaml.safe_load_all((DEPLOY / "kubernetes.yaml").read_text())
    return {document["kind"]: document for document in documents}


@pytest.fixture(scope="module")
def models_config():
    config = read_text_proto(
        str(DEPLOY / "models.config"), messages.ModelServerConfig
    )
    validate_model_server_config(config)
    return config


def _mounts(volume_specs):
    """docker-compose "host:container[:ro]" -> {container: host}; the host
    part may hold a "${VAR:-default}" with a colon of its own."""
    mounts = {}
    for spec in volume_specs:
        host, container = spec.removesuffix(":ro").rsplit(":", 1)
        mounts[container] = host
    return mounts


def test_example_configs_parse(models_config):
    [model] = models_config.model_config_list.config
    assert model.base_path.startswith("/models/")
    monitoring = read_text_proto(
        str(DEPLOY / "monitoring.config"), messages.MonitoringConfig
    )
    assert monitoring.prometheus_config.enable


def test_compose_flags_ports_and_mounts_agree(compose_service):
    parsed = flags.parse_flags(ENTRYPOINT_FLAGS + compose_service["command"])
    mounts = _mounts(compose_service["volumes"])

    assert compose_service["image"].startswith("tensorflow/serving:")
    assert compose_service["ports"] == [
        f"{parsed.port}:{parsed.port}",
        f"{parsed.rest_api_port}:{parsed.rest_api_port}",
    ]
    assert mounts[parsed.model_config_file] == "./models.config"
    assert mounts[parsed.monitoring_config_file] == "./monitoring.config"
    assert "/models" in mounts
    for host_path in ("./models.config", "./monitoring.config"):
        assert (DEPLOY / host_path).is_file()


def test_kubernetes_deployment_matches_flags_and_service(
    kubernetes, models_config
):
    pod = kubernetes["Deployment"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    parsed = flags.parse_flags(ENTRYPOINT_FLAGS + container["args"])
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    [model] = models_config.model_config_list.config

    assert ports == {"grpc": parsed.port, "http": parsed.rest_api_port}
    assert parsed.model_config_file.startswith(mounts["config"] + "/")
    assert model.base_path.startswith(mounts["models"] + "/")
    readiness = container["readinessProbe"]["httpGet"]
    assert readiness == {"path": f"/v1/models/{model.name}", "port": "http"}
    assert container["livenessProbe"]["tcpSocket"]["port"] in ports
    service_ports = kubernetes["Service"]["spec"]["ports"]
    assert {p["targetPort"] for p in service_ports} == set(ports)
    assert (
        kubernetes["Service"]["spec"]["selector"]
        == (kubernetes["Deployment"]["spec"]["selector"]["matchLabels"])
    )


def test_kubernetes_config_map_holds_the_example_configs(kubernetes):
    data = kubernetes["ConfigMap"]["data"]

    for name, message_class in (
        ("models.config", messages.ModelServerConfig),
        ("monitoring.config", messages.MonitoringConfig),
    ):
        in_map = parse_text_proto(data[name], message_class, name)
        example = read_text_proto(str(DEPLOY / name), message_class)
        assert in_map == example
