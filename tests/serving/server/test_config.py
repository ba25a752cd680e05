"""TensorFlow Serving's config files: messages, parsing and errors."""

import pytest

from serving.server import flags
from serving.server import settings
from serving.server.config import bundle_config
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

    # Only the thread pool is named, as TF Serving does without a file.
    expected = messages.BatchingParameters()
    expected.thread_pool_name.value = "model_server_batch_threads"
    assert read.batching_parameters == expected


def test_without_batching_there_are_no_batching_parameters(tmp_path):
    assert _settings(tmp_path).batching_parameters is None


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


ADAPTER_TYPE = (
    "type.googleapis.com/tensorflow.serving.SavedModelBundleSourceAdapterConfig"
)
PLATFORM_CONFIG = (
    """
platform_configs {
  key: "tensorflow"
  value {
    source_adapter_config {
      ["""
    + ADAPTER_TYPE
    + """] {
        legacy_config {
          session_config {
            intra_op_parallelism_threads: 3
            allow_soft_placement: true
          }
          batching_parameters { max_batch_size { value: 16 } }
          saved_model_tags: "serve"
          saved_model_tags: "gpu"
          model_warmup_options { num_request_iterations { value: 4 } }
          num_tflite_pools: 2
          session_target: "local"
          enable_session_metadata: true
        }
      }
    }
  }
}
"""
)


def test_platform_config_file_replaces_the_flags_it_covers(tmp_path):
    path = tmp_path / "platform.config"
    path.write_text(PLATFORM_CONFIG)

    read = _settings(
        tmp_path,
        f"--platform_config_file={path}",
        "--tensorflow_intra_op_parallelism=8",
        "--saved_model_tags=other",
    )

    bundle = read.bundle_config
    assert read.batching_parameters.max_batch_size.value == 16
    assert bundle.session_config.intra_op_parallelism_threads == 3
    assert bundle.session_config.allow_soft_placement
    assert list(bundle.saved_model_tags) == ["serve", "gpu"]
    # proto3 defaults, as in TF Serving: no warmup unless the file asks.
    assert bundle.enable_model_warmup is False
    assert bundle_config.warmup_iterations(bundle) == 4
    assert bundle_config.num_tflite_interpreters(bundle) == 2
    assert bundle_config.unapplied_fields(bundle) == [
        "enable_session_metadata",
        "session_target",
    ]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", 'has no platform_configs entry for "tensorflow"'),
        (
            'platform_configs { key: "tensorflow" value { } }',
            "must be a tensorflow.serving.SavedModelBundleSourceAdapterConfig",
        ),
        (
            "platform_configs { key: 1 }",
            "Error parsing text-format tensorflow.serving.PlatformConfigMap",
        ),
    ],
)
def test_bad_platform_config_files_say_what_is_wrong(tmp_path, text, message):
    path = tmp_path / "platform.config"
    path.write_text(text)

    with pytest.raises(ValueError, match=message):
        bundle_config.from_platform_config_file(str(path))


def test_session_flags_build_tf_servings_session_config(tmp_path):
    path = tmp_path / "session.config"
    path.write_text(
        "allow_soft_placement: true\nintra_op_parallelism_threads: 7\n"
    )

    bundle = _settings(
        tmp_path,
        f"--tensorflow_session_config_file={path}",
        "--per_process_gpu_memory_fraction=0.25",
        "--tensorflow_inter_op_parallelism=2",
        "--mixed_precision=bfloat16",
        "--num_request_iterations_for_warmup=3",
    ).bundle_config

    config = bundle.session_config
    assert config.allow_soft_placement
    assert config.gpu_options.per_process_gpu_memory_fraction == 0.25
    # As server.cc does: the thread flags always replace the file's.
    assert config.intra_op_parallelism_threads == 0
    assert config.inter_op_parallelism_threads == 2
    assert bundle.mixed_precision == "bfloat16"
    assert bundle.enable_model_warmup is True
    assert bundle_config.warmup_iterations(bundle) == 3
    assert not bundle.HasField("batching_parameters")
    assert bundle_config.unapplied_fields(bundle) == []
