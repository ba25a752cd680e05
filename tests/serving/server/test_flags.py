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


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model_base_path=/m", "--rest_api_port=8501"], "unrecognized"),
        (["--model_base=/m"], "unrecognized arguments: --model_base=/m"),
        (["--model_name=toy"], "--model_base_path"),
        (["--model_base_path=/m", "--port=http"], "expected a port number"),
        (["--model_base_path=/m", "--port=70000"], "expected a port number"),
    ],
)
def test_bad_flags_exit_with_code_2_and_say_why(argv, message, capsys):
    with pytest.raises(SystemExit) as raised:
        flags.parse_flags(argv)

    assert raised.value.code == 2
    assert message in capsys.readouterr().err
