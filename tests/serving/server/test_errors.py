import grpc
import pytest
import tensorflow as tf

from serving.server import errors


@pytest.mark.parametrize(
    "tf_error, code",
    [
        (tf.errors.InvalidArgumentError, grpc.StatusCode.INVALID_ARGUMENT),
        (tf.errors.NotFoundError, grpc.StatusCode.NOT_FOUND),
        (tf.errors.ResourceExhaustedError, grpc.StatusCode.RESOURCE_EXHAUSTED),
        (
            tf.errors.FailedPreconditionError,
            grpc.StatusCode.FAILED_PRECONDITION,
        ),
        (tf.errors.InternalError, grpc.StatusCode.INTERNAL),
        (tf.errors.UnknownError, grpc.StatusCode.UNKNOWN),
    ],
)
def test_tensorflow_errors_map_to_the_same_grpc_code(tf_error, code):
    error = tf_error(None, None, "message")

    assert errors.status_code_for_tf_error(error) == code


def test_serving_error_keeps_code_and_message():
    error = errors.not_found("Servable not found for request: Latest(a)")

    assert error.code == grpc.StatusCode.NOT_FOUND
    assert str(error) == error.message
