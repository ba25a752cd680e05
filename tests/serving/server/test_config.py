"""TensorFlow Serving's config files: messages, parsing and errors."""

import pytest

from serving.server import flags
from serving.server import settings
from serving.server.config import messages
from serving.server.config.model_config import single_model_config
from serving.server.config.text_proto import read_text_proto


@pytest.mark.parametrize(
    "message_class, number_by_field",
    [
        (messages.PrometheusConfig, {"enable": 1, "path": 2}),
        (messages.MonitoringConfig, {"prometheus_config": 1}),
        (
            messages.SSLConfig,
            {
                "server_key": 1,
                "server_cert": 2,
                "custom_ca": 3,
                "client_verify": 4,
            },
        ),
        (
            messages.BatchingParameters,
            {
                "max_batch_size": 1,
                "batch_timeout_micros": 2,
                "max_enqueued_batches": 3,
                "num_batch_threads": 4,
                "thread_pool_name": 5,
                "allowed_batch_sizes": 6,
                "pad_variable_length_inputs": 7,
                "enable_large_batch_splitting": 8,
                "max_execution_batch_size": 9,
            },
        ),
    ],
)
def test_messages_have_tensorflow_servings_names_and_numbers(
    message_class, number_by_field
):
    descriptor = message_class.DESCRIPTOR

    assert descriptor.full_name.startswith("tensorflow.serving.")
    assert {
        field.name: field.number for field in descriptor.fields
    } == number_by_field


def test_monitoring_config_parses(tmp_path):
    path = tmp_path / "monitoring.config"
    path.write_text(
        "prometheus_config {\n"
        '  enable: true,\n  path: "/monitoring/metrics"\n'
        "}\n"
    )

    config = read_text_proto(str(path), messages.MonitoringConfig)

    assert config.prometheus_config.enable
    assert config.prometheus_config.path == "/monitoring/metrics"


def test_batching_parameters_parse_with_wrapper_values(tmp_path):
    path = tmp_path / "batching.config"
    path.write_text(
        "max_batch_size { value: 32 }\n"
        "batch_timeout_micros { value: 1000 }\n"
        "max_enqueued_batches { value: 100 }\n"
        "num_batch_threads { value: 4 }\n"
        "allowed_batch_sizes: 8\nallowed_batch_sizes: 32\n"
        "pad_variable_length_inputs: true\n"
    )

    parameters = read_text_proto(str(path), messages.BatchingParameters)

    assert parameters.max_batch_size.value == 32
    assert parameters.batch_timeout_micros.value == 1000
    assert parameters.max_enqueued_batches.value == 100
    assert parameters.num_batch_threads.value == 4
    assert list(parameters.allowed_batch_sizes) == [8, 32]
    assert parameters.pad_variable_length_inputs
    assert not parameters.HasField("thread_pool_name")


def test_ssl_config_parses(tmp_path):
    path = tmp_path / "ssl.config"
    path.write_text(
        'server_key: "KEY"\nserver_cert: "CERT"\ncustom_ca: "CA"\n'
        "client_verify: true\n"
    )

    config = read_text_proto(str(path), messages.SSLConfig)

    assert (config.server_key, config.server_cert, config.custom_ca) == (
        "KEY",
        "CERT",
        "CA",
    )
    assert config.client_verify


def test_model_server_config_parses_policies_and_labels(tmp_path):
    path = tmp_path / "models.config"
    path.write_text(
        "model_config_list {\n"
        "  config {\n"
        '    name: "toy" base_path: "/models/toy" model_platform: '
        '"tensorflow"\n'
        "    model_version_policy { specific { versions: 1 versions: 2 } }\n"
        '    version_labels { key: "stable" value: 1 }\n'
        "  }\n"
        "}\n"
    )

    config = read_text_proto(str(path), messages.ModelServerConfig)

    [model] = config.model_config_list.config
    assert list(model.model_version_policy.specific.versions) == [1, 2]
    assert dict(model.version_labels) == {"stable": 1}


@pytest.mark.parametrize(
    "message_class",
    [
        messages.ModelServerConfig,
        messages.MonitoringConfig,
        messages.SSLConfig,
        messages.BatchingParameters,
    ],
)
def test_bad_file_names_the_file_type_and_line_column(tmp_path, message_class):
    path = tmp_path / "bad.config"
    path.write_text("\n  no_such_field: 1\n")

    with pytest.raises(ValueError) as raised:
        read_text_proto(str(path), message_class)

    message = str(raised.value)
    assert message.startswith(f"Invalid protobuf file: '{path}': ")
    assert (
        f"Error parsing text-format {message_class.DESCRIPTOR.full_name}: 2:3: "
    ) in message
    assert "no_such_field" in message


def test_missing_file_names_it(tmp_path):
    with pytest.raises(OSError, match="nope.config"):
        read_text_proto(str(tmp_path / "nope.config"), messages.SSLConfig)


def test_single_model_config_is_tensorflow_servings(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)

    config = single_model_config("toy", "models/toy")

    [model] = config.model_config_list.config
    assert model.name == "toy"
    assert model.base_path == str(tmp_path / "models" / "toy")
    assert model.model_platform == "tensorflow"


def _settings(tmp_path, *argv):
    return settings.read_settings(
        flags.parse_flags([f"--model_base_path={tmp_path}", *argv])
    )


def test_settings_read_every_file(tmp_path):
    (tmp_path / "m.config").write_text("prometheus_config { enable: true }")
    (tmp_path / "b.config").write_text("max_batch_size { value: 4 }")
    (tmp_path / "token").write_text("  s3cret\n")

    read = _settings(
        tmp_path,
        f"--monitoring_config_file={tmp_path / 'm.config'}",
        "--enable_batching",
        f"--batching_parameters_file={tmp_path / 'b.config'}",
        f"--auth_token_file={tmp_path / 'token'}",
    )

    assert read.monitoring_config.prometheus_config.enable
    assert read.batching_parameters.max_batch_size.value == 4
    assert read.auth_token == "s3cret"
    assert read.credentials is None
    assert read.model_server_config.model_config_list.config[0].name == (
        "default"
    )


def test_batching_without_a_file_uses_defaults(tmp_path):
    read = _settings(tmp_path, "--enable_batching")

    assert read.batching_parameters == messages.BatchingParameters()


@pytest.mark.parametrize(
    "flag, content, message",
    [
        (
            "--model_config_file",
            'model_config_list { config { name: "a" base_path: "rel" '
            'model_platform: "tensorflow" } }',
            "Invalid model config file",
        ),
        ("--ssl_config_file", 'server_key: "k"', "needs both server_key"),
        (
            "--ssl_config_file",
            'server_key: "k" server_cert: "c" client_verify: true',
            "client_verify without custom_ca",
        ),
        ("--auth_token_file", "\n", "is empty"),
    ],
)
def test_invalid_file_content_is_a_value_error_naming_it(
    tmp_path, flag, content, message
):
    path = tmp_path / "file"
    path.write_text(content)

    with pytest.raises(ValueError, match=message) as raised:
        _settings(tmp_path, f"{flag}={path}")

    assert str(path) in str(raised.value)
