"""Model warmup: replaying recorded requests before a version is served.

With --enable_model_warmup (the default), TensorFlow Serving reads
`<version>/assets.extra/tf_serving_warmup_requests`, a TFRecord file of
PredictionLog protos, and runs each logged request against the freshly
loaded version before marking it AVAILABLE, so that lazy initialisation
(tracing, kernel selection, caches) is not paid by the first clients. The
file is optional; a file that is not TFRecord, holds unparsable records
or more than 1000 of them, or a request that fails, fails the load.

Predict requests run through the same `predict.predict` as live traffic,
against this version whatever model_spec the log recorded, as TensorFlow
Serving does.
"""

import logging
import os

import grpc
import tensorflow as tf
from google.protobuf import message
from tensorflow_serving.apis import prediction_log_pb2

from serving.server import errors
from serving.server import predict
from serving.server.manager import ModelManager

logger = logging.getLogger(__name__)

WARMUP_DIRECTORY = "assets.extra"
WARMUP_FILENAME = "tf_serving_warmup_requests"
MAX_NUM_RECORDS = 1000


def warmup_file(version_path):
    """Where a version keeps its warmup requests."""
    return os.path.join(version_path, WARMUP_DIRECTORY, WARMUP_FILENAME)


def run_warmup(servable):
    """Replays the servable's warmup requests, if it has any.

    Returns:
        int: the number of records replayed (0 without a warmup file).

    Raises:
        ServingError: INVALID_ARGUMENT for an unparsable record or too many
            records, DATA_LOSS for a file that is not TFRecord,
            UNIMPLEMENTED for a log type other than predict_log, or the
            failing request's own status.
        tf.errors.OpError: if the model fails on a logged request.
    """
    path = warmup_file(servable.path)
    if not os.path.isfile(path):
        logger.info("No warmup data file found at %s", path)
        return 0
    session = ModelManager()
    session.add(servable)
    count = 0
    for record in _records(path):
        count += 1
        if count > MAX_NUM_RECORDS:
            raise errors.invalid_argument(
                "Number of warmup records exceeds the maximum "
                f"({MAX_NUM_RECORDS}) at {path}"
            )
        _replay(session, servable, _parse(record, path))
    logger.info(
        "Finished reading warmup data for model at %s. Number of warmup "
        "records read: %d.",
        path,
        count,
    )
    return count


def _records(path):
    try:
        for record in tf.data.TFRecordDataset(path):
            yield record.numpy()
    except tf.errors.DataLossError as error:
        raise errors.ServingError(
            grpc.StatusCode.DATA_LOSS,
            f"{error.message}. Please verify your warmup data is in TFRecord "
            f"format: {path}",
        ) from error


def _parse(record, path):
    prediction_log = prediction_log_pb2.PredictionLog()
    try:
        prediction_log.ParseFromString(record)
    except message.DecodeError as error:
        raise errors.invalid_argument(
            f"Failed to parse warmup record: {record[:64]!r} from {path}"
        ) from error
    return prediction_log


def _replay(session, servable, prediction_log):
    log_type = prediction_log.WhichOneof("log_type")
    if log_type != "predict_log":
        raise errors.ServingError(
            grpc.StatusCode.UNIMPLEMENTED,
            f"Unsupported log_type for warmup: {log_type}. This server "
            "replays predict_log records.",
        )
    request = prediction_log.predict_log.request
    spec = request.model_spec
    spec.name = servable.name
    spec.version.value = servable.version
    predict.predict(session, request)
