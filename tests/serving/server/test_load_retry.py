import grpc
import pytest
import tensorflow as tf

from serving.server import errors
from serving.server.load_retry import load_error_status
from serving.server.load_retry import load_with_retries


def _failing(times):
    attempts = []

    def load():
        attempts.append(len(attempts))
        if len(attempts) <= times:
            raise OSError(f"attempt {len(attempts)} failed")
        return "servable"

    return load, attempts


def test_transient_failures_are_retried_until_success():
    load, attempts = _failing(2)

    assert load_with_retries(load, max_retries=2, wait=lambda: True) == (
        "servable"
    )
    assert len(attempts) == 3


def test_last_error_is_raised_once_retries_are_exhausted():
    load, attempts = _failing(5)

    with pytest.raises(OSError, match="attempt 3 failed"):
        load_with_retries(load, max_retries=2, wait=lambda: True)
    assert len(attempts) == 3


def test_zero_retries_tries_once_and_wait_can_give_up():
    load, attempts = _failing(5)
    with pytest.raises(OSError):
        load_with_retries(load, max_retries=0, wait=lambda: True)
    assert len(attempts) == 1

    load, attempts = _failing(5)
    with pytest.raises(OSError):
        load_with_retries(load, max_retries=5, wait=lambda: False)
    assert len(attempts) == 1


@pytest.mark.parametrize(
    "error, code",
    [
        (errors.invalid_argument("bad"), grpc.StatusCode.INVALID_ARGUMENT),
        (tf.errors.DataLossError(None, None, "bad"), grpc.StatusCode.DATA_LOSS),
        (FileNotFoundError("bad"), grpc.StatusCode.NOT_FOUND),
        (RuntimeError("bad"), grpc.StatusCode.UNKNOWN),
    ],
)
def test_load_errors_map_to_status_codes(error, code):
    status_code, message = load_error_status(error)

    assert status_code == code
    assert "bad" in message
