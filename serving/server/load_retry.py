"""Retrying a failed load, and the status a failure is reported with.

TensorFlow Serving tries a version once and then up to
--max_num_load_retries more times, waiting --load_retry_interval_micros
between attempts; a version that still fails ends in state END with the
last error as its status.
"""

import logging

import grpc
import tensorflow as tf

from serving.server import errors

logger = logging.getLogger(__name__)


def load_with_retries(load, max_retries, wait):
    """Calls `load()` until it returns, at most `1 + max_retries` times.

    Args:
        load: callable returning the loaded servable.
        max_retries: int. Attempts after the first failure.
        wait: callable taking no argument, called before each retry;
            returns False to give up early (e.g. the server is stopping).

    Returns:
        What `load()` returned.

    Raises:
        Exception: the last failure, once retries are exhausted or `wait`
            gave up.
    """
    attempt = 0
    while True:
        try:
            return load()
        # A broken export can fail in any library on the way (protobuf,
        # TensorFlow, LiteRT, the OS); none of it may take the server down.
        except Exception as error:
            if attempt >= max_retries:
                raise
            attempt += 1
            logger.warning(
                "Load failed (%s); retry %d of %d", error, attempt, max_retries
            )
            if not wait():
                raise


def load_error_status(error):
    """The (grpc.StatusCode, message) GetModelStatus shows for a failure."""
    if isinstance(error, errors.ServingError):
        return error.code, error.message
    if isinstance(error, tf.errors.OpError):
        return errors.status_code_for_tf_error(error), error.message
    if isinstance(error, FileNotFoundError):
        return grpc.StatusCode.NOT_FOUND, str(error)
    return grpc.StatusCode.UNKNOWN, f"{type(error).__name__}: {error}"
