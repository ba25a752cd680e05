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
    ],
)
def test_bad_flags_exit_with_code_2_and_say_why(argv, message, capsys):
    with pytest.raises(SystemExit) as raised:
        flags.parse_flags(argv)

    assert raised.value.code == 2
    assert message in capsys.readouterr().err
