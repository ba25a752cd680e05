"""rpc.answer: every outcome of a handler becomes an RPC status."""

import grpc
import pytest
import tensorflow as tf

from serving.server import errors
from serving.server import rpc


class _Aborted(Exception):
    pass


class _Context:
    """The two ServicerContext methods `answer` uses."""

    def __init__(self, time_remaining=None):
        self._time_remaining = time_remaining
        self.status = None

    def time_remaining(self):
        return self._time_remaining

    def abort(self, code, details):
        self.status = (code, details)
        raise _Aborted()


def _status(handler, context=None):
    context = context or _Context()
    with pytest.raises(_Aborted):
        rpc.answer(context, handler, "request")
    return context.status


def _raise(error):
    def handler(request):
        raise error

    return handler


def test_returns_the_handler_response():
    assert rpc.answer(_Context(5.0), lambda request: request * 2, 21) == 42


def test_expired_deadline_is_deadline_exceeded_and_skips_the_handler():
    calls = []

    status = _status(calls.append, _Context(time_remaining=0.0))

    assert status == (grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline exceeded")
    assert calls == []


@pytest.mark.parametrize(
    "error, code",
    [
        (errors.resource_exhausted("big"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (errors.deadline_exceeded(), grpc.StatusCode.DEADLINE_EXCEEDED),
        (errors.unavailable("full"), grpc.StatusCode.UNAVAILABLE),
        (
            tf.errors.DeadlineExceededError(None, None, "slow"),
            grpc.StatusCode.DEADLINE_EXCEEDED,
        ),
        (
            tf.errors.ResourceExhaustedError(None, None, "OOM"),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
        ),
        (MemoryError(), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (KeyError("bug"), grpc.StatusCode.INTERNAL),
    ],
)
def test_failures_map_to_their_status_codes(error, code):
    assert _status(_raise(error))[0] == code


def test_deadline_is_absolute_and_none_without_one():
    assert rpc.deadline(_Context(None)) is None
    assert rpc.deadline(_Context(10.0)) > rpc.deadline(_Context(1.0))
