import pytest

from serving.server import flags


def test_accepts_equals_and_space_forms():
    parsed = flags.parse_flags(
        ["--port=0", "--model_name", "toy", "--model_base_path=/m/toy"]
    )

    assert parsed == flags.ServerFlags(
        port=0, model_name="toy", model_base_path="/m/toy"
    )


def test_defaults_match_tensorflow_serving():
    parsed = flags.parse_flags(["--model_base_path=/m"])

    assert parsed.port == 8500
    assert parsed.model_name == "default"
    assert parsed.rest_api_port == 0
    assert parsed.rest_api_timeout_in_ms == 30000
    assert parsed.file_system_poll_wait_seconds == 1
    assert parsed.model_config_file_poll_wait_seconds == 0
    assert parsed.max_num_load_retries == 5
    assert parsed.load_retry_interval_micros == 60_000_000
    assert parsed.enable_model_warmup is True
    assert parsed.enable_batching is False
    assert parsed.enable_grpc_healthcheck_service is False
    assert parsed.prefer_tflite_model is False
    assert parsed.allow_version_labels_for_unavailable_models is False
    assert parsed.grpc_channel_arguments == ()
    assert parsed.model_config_file == parsed.ssl_config_file == ""
    assert parsed.auth_token_file == parsed.grpc_socket_path == ""
    assert parsed.tensorflow_session_parallelism == 0
    assert parsed.saved_model_tags == ("serve",)
    assert parsed.num_request_iterations_for_warmup == 1
    assert parsed.tensorflow_intra_op_parallelism == 0
    assert parsed.tensorflow_inter_op_parallelism == 0


@pytest.mark.parametrize(
    "argv, field, value",
    [
        (["--rest_api_port=8501"], "rest_api_port", 8501),
        (["--rest_api_timeout_in_ms=500"], "rest_api_timeout_in_ms", 500),
        (["--model_config_file=/c"], "model_config_file", "/c"),
        (
            ["--model_config_file_poll_wait_seconds=60"],
            "model_config_file_poll_wait_seconds",
            60.0,
        ),
        (
            ["--file_system_poll_wait_seconds=0.25"],
            "file_system_poll_wait_seconds",
            0.25,
        ),
        (
            ["--file_system_poll_wait_seconds=0"],
            "file_system_poll_wait_seconds",
            0,
        ),
        (["--enable_batching"], "enable_batching", True),
        (["--enable_batching=true"], "enable_batching", True),
        (["--enable_model_warmup=false"], "enable_model_warmup", False),
        (["--enable_model_warmup=0"], "enable_model_warmup", False),
        (
            ["--enable_batching", "--batching_parameters_file=/b"],
            "batching_parameters_file",
            "/b",
        ),
        (["--monitoring_config_file=/mon"], "monitoring_config_file", "/mon"),
        (["--ssl_config_file=/ssl"], "ssl_config_file", "/ssl"),
        (["--grpc_socket_path=/tmp/s"], "grpc_socket_path", "/tmp/s"),
        (["--max_num_load_retries=0"], "max_num_load_retries", 0),
        (
            ["--load_retry_interval_micros=-1"],
            "load_retry_interval_micros",
            -1,
        ),
        (
            ["--enable_grpc_healthcheck_service"],
            "enable_grpc_healthcheck_service",
            True,
        ),
        (["--prefer_tflite_model=true"], "prefer_tflite_model", True),
        (
            ["--allow_version_labels_for_unavailable_models"],
            "allow_version_labels_for_unavailable_models",
            True,
        ),
        (["--auth_token_file=/t"], "auth_token_file", "/t"),
        (
            ["--tensorflow_session_parallelism=4"],
            "tensorflow_session_parallelism",
            4,
        ),
        (["--grpc_max_threads=3"], "grpc_max_threads", 3),
        (
            ["--num_request_iterations_for_warmup=4"],
            "num_request_iterations_for_warmup",
            4,
        ),
        (
            ["--saved_model_tags=serve,gpu"],
            "saved_model_tags",
            ("serve", "gpu"),
        ),
        (["--rest_api_num_threads=5"], "rest_api_num_threads", 5),
        (
            ["--tensorflow_intra_op_parallelism=2"],
            "tensorflow_intra_op_parallelism",
            2,
        ),
        (
            ["--tensorflow_inter_op_parallelism=3"],
            "tensorflow_inter_op_parallelism",
            3,
        ),
    ],
)
def test_each_flag_is_parsed(argv, field, value):
    parsed = flags.parse_flags(["--model_base_path=/m", *argv])

    assert getattr(parsed, field) == value


def test_channel_arguments_parse_int32_values_as_ints():
    parsed = flags.parse_flags(
        [
            "--model_base_path=/m",
            "--grpc_channel_arguments=grpc.max_connection_age_ms=2000,"
            "grpc.primary_user_agent=tfs,grpc.big=99999999999",
        ]
    )

    assert parsed.grpc_channel_arguments == (
        ("grpc.max_connection_age_ms", 2000),
        ("grpc.primary_user_agent", "tfs"),
        ("grpc.big", "99999999999"),
    )


@pytest.mark.parametrize(
    "argv, threads",
    [
        ([], (0, 0)),
        (["--tensorflow_session_parallelism=4"], (4, 4)),
        (["--tensorflow_intra_op_parallelism=2"], (2, 0)),
        (
            [
                "--tensorflow_session_parallelism=4",
                "--tensorflow_inter_op_parallelism=3",
            ],
            (0, 3),
        ),
    ],
)
def test_session_threads_follow_tensorflow_serving(argv, threads):
    # The specific flags win over the session flag when either is set.
    parsed = flags.parse_flags(["--model_base_path=/m", *argv])

    assert parsed.session_threads() == threads


def test_config_file_replaces_the_base_path():
    parsed = flags.parse_flags(["--model_config_file=/models/models.config"])

    assert parsed.model_base_path is None
    assert parsed.model_config_file == "/models/models.config"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model_base_path=/m", "--rest_api"], "unrecognized"),
        (["--model_base=/m"], "unrecognized arguments: --model_base=/m"),
        (["--model_name=toy"], "--model_base_path is required unless"),
        (["--model_base_path=/m", "--port=http"], "expected a port number"),
        (["--model_base_path=/m", "--port=70000"], "expected a port number"),
        (
            ["--model_base_path=/m", "--enable_batching=yes"],
            "expected true, false, 1 or 0, got 'yes'",
        ),
        (
            ["--model_base_path=/m", "--batching_parameters_file=/b"],
            "--batching_parameters_file is set without setting "
            "--enable_batching",
        ),
        (
            ["--model_base_path=/m", "--port=9000", "--rest_api_port=9000"],
            "--rest_api_port cannot be the same as --port (9000)",
        ),
        (
            ["--model_base_path=/m", "--grpc_channel_arguments=a=1,b"],
            "expected comma-separated key=value pairs",
        ),
        (
            ["--model_base_path=/m", "--file_system_poll_wait_seconds=-1"],
            "expected a number of seconds >= 0, got '-1'",
        ),
        (
            ["--model_base_path=/m", "--max_num_load_retries=-2"],
            "expected an integer >= 0",
        ),
        (
            [
                "--model_base_path=/m",
                "--tensorflow_session_parallelism=1",
                "--tensorflow_intra_op_parallelism=1",
                "--tensorflow_inter_op_parallelism=1",
            ],
            "Either configure --tensorflow_session_parallelism or",
        ),
        (
            ["--model_base_path=/m", "--tensorflow_inter_op_parallelism=-1"],
            "expected an integer >= 0",
        ),
        (
            ["--model_base_path=/m", "--saved_model_tags=,"],
            "expected comma-separated MetaGraph tags",
        ),
        (
            [
                "--model_base_path=/m",
                "--use_alts_credentials",
                "--ssl_config_file=/ssl",
            ],
            "Either use_alts_credentials must be false or ssl_config_file "
            "must be empty.",
        ),
        (
            ["--model_base_path=/m", "--per_process_gpu_memory_fraction=-1"],
            "expected a fraction of GPU memory >= 0",
        ),
    ],
)
def test_bad_flags_exit_with_code_2_and_say_why(argv, message, capsys):
    with pytest.raises(SystemExit) as raised:
        flags.parse_flags(argv)

    assert raised.value.code == 2
    assert message in capsys.readouterr().err


# Every flag of tensorflow_model_server 2.21 (model_servers/main.cc), with
# a value it takes.
TF_SERVING_FLAGS = {
    "port": "0",
    "grpc_socket_path": "/tmp/s",
    "rest_api_port": "8501",
    "rest_api_num_threads": "4",
    "rest_api_timeout_in_ms": "1000",
    "rest_api_enable_cors_support": "true",
    "enable_batching": "true",
    "allow_version_labels_for_unavailable_models": "true",
    "batching_parameters_file": "/b",
    "enable_per_model_batching_parameters": "true",
    "model_config_file": "/c",
    "model_config_file_poll_wait_seconds": "5",
    "model_name": "m",
    "model_base_path": "/m",
    "num_load_threads": "2",
    "num_unload_threads": "2",
    "max_num_load_retries": "1",
    "load_retry_interval_micros": "10",
    "file_system_poll_wait_seconds": "2",
    "flush_filesystem_caches": "false",
    "tensorflow_session_parallelism": "2",
    "tensorflow_session_config_file": "/s",
    "tensorflow_intra_op_parallelism": "1",
    "tensorflow_inter_op_parallelism": "0",
    "use_alts_credentials": "false",
    "ssl_config_file": "/ssl",
    "platform_config_file": "/p",
    "per_process_gpu_memory_fraction": "0.5",
    "saved_model_tags": "serve,gpu",
    "grpc_channel_arguments": "grpc.max_connection_age_ms=2000",
    "grpc_max_threads": "8",
    "enable_model_warmup": "false",
    "num_request_iterations_for_warmup": "3",
    "version": "false",
    "monitoring_config_file": "/mon",
    "remove_unused_fields_from_bundle_metagraph": "true",
    "prefer_tflite_model": "true",
    "num_tflite_pools": "3",
    "num_tflite_interpreters_per_pool": "2",
    "enable_signature_method_name_check": "true",
    "xla_cpu_compilation_enabled": "true",
    "xla_gpu_compilation_enabled": "false",
    "enable_profiler": "false",
    "thread_pool_factory_config_file": "/t",
    "mixed_precision": "bfloat16",
    "skip_initialize_tpu": "true",
    "enable_grpc_healthcheck_service": "true",
    "enable_serialization_as_tensor_content": "true",
}


def test_every_tensorflow_serving_flag_is_accepted():
    argv = [f"--{name}={value}" for name, value in TF_SERVING_FLAGS.items()]

    parsed = flags.parse_flags(argv)

    assert parsed.num_load_threads == 2
    assert parsed.per_process_gpu_memory_fraction == 0.5
    assert parsed.mixed_precision == "bfloat16"
    assert parsed.platform_config_file == "/p"
    assert parsed.rest_api_enable_cors_support is True
    assert parsed.enable_profiler is False
    assert parsed.enable_serialization_as_tensor_content is True
    assert parsed.num_tflite_pools == 3


def test_flags_that_change_nothing_here_are_named_with_why():
    parsed = flags.parse_flags(
        [
            "--model_base_path=/m",
            "--num_unload_threads=2",
            "--flush_filesystem_caches=false",
            "--skip_initialize_tpu",
        ]
    )

    named = dict(parsed.inapplicable_flags())

    assert sorted(named) == [
        "--flush_filesystem_caches",
        "--num_unload_threads",
        "--skip_initialize_tpu",
    ]
    assert named["--skip_initialize_tpu"] == "this server does not run on TPUs"
    assert (
        flags.parse_flags(["--model_base_path=/m"]).inapplicable_flags() == []
    )


def test_new_flags_default_to_tensorflow_serving_values():
    parsed = flags.parse_flags(["--model_base_path=/m"])

    assert parsed.enable_profiler is True
    assert parsed.rest_api_enable_cors_support is False
    assert parsed.enable_serialization_as_tensor_content is False
    assert parsed.num_load_threads == 0
    assert parsed.num_tflite_pools == flags.DEFAULT_NUM_TFLITE_POOLS
    assert parsed.per_process_gpu_memory_fraction == 0.0
    assert parsed.use_alts_credentials is False


def test_version_needs_no_model():
    assert flags.parse_flags(["--version"]).version is True
