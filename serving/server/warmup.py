"""Model warmup: replaying recorded requests before a version is served.

With --enable_model_warmup (the default), TensorFlow Serving reads
`<version>/assets.extra/tf_serving_warmup_requests`, a TFRecord file of
PredictionLog protos, and runs each logged request against the freshly
loaded version before marking it AVAILABLE, so that lazy initialisation
(tracing, kernel selection, caches) is not paid by the first clients. The
file is optional; a file that is not TFRecord, holds unparsable records
or more than 1000 of them, or a request that fails, fails the load.

Predict, Classify, Regress and MultiInference logs are replayed through
the same handlers as live traffic, against this version whatever
model_spec the log recorded, as TensorFlow Serving does; a session_run
log (this server has no SessionService) is UNIMPLEMENTED.
"""

import logging
import os

import grpc
import tensorflow as tf
from google.protobuf import message
from tensorflow_serving.apis import prediction_log_pb2

from serving.server import classify
from serving.server import errors
from serving.server import multi_inference
from serving.server import predict
from serving.server import regress
from serving.server.manager import ModelManager

logger = logging.getLogger(__name__)

# PredictionLog's log_type -> the handler that answers its request.
_HANDLERS = {
    "predict_log": predict.predict,
    "classify_log": classify.classify,
    "regress_log": regress.regress,
    "multi_inference_log": multi_inference.multi_inference,
}
WARMUP_DIRECTORY = "assets.extra"
WARMUP_FILENAME = "tf_serving_warmup_requests"
MAX_NUM_RECORDS = 1000


def warmup_file(version_path):
    """Where a version keeps its warmup requests."""
    return os.path.join(version_path, WARMUP_DIRECTORY, WARMUP_FILENAME)


def run_warmup(servable, iterations=1):
    """Replays the servable's warmup requests, if it has any.

    Args:
        servable: Servable. The version just loaded, not yet served.
        iterations: int. Times each request runs
            (--num_request_iterations_for_warmup; below 1 means once).

    Returns:
        int: the number of records replayed (0 without a warmup file).

    Raises:
        ServingError: INVALID_ARGUMENT for an unparsable record or too many
            records, DATA_LOSS for a file that is not TFRecord,
            UNIMPLEMENTED for a session_run log, or the failing request's
            own status.
        tf.errors.OpError: if the model fails on a logged request.
    """
    path = warmup_file(servable.path)
    if not os.path.isfile(path):
        logger.info("No warmup data file found at %s", path)
        return 0
    manager = ModelManager()
    manager.add(servable)
    count = 0
    for record in _records(path):
        count += 1
        if count > MAX_NUM_RECORDS:
            raise errors.invalid_argument(
                "Number of warmup records exceeds the maximum "
                f"({MAX_NUM_RECORDS}) at {path}"
            )
        prediction_log = _parse(record, path)
        for _ in range(max(iterations, 1)):
            _replay(manager, servable, prediction_log)
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


def _replay(manager, servable, prediction_log):
    log_type = prediction_log.WhichOneof("log_type")
    handler = _HANDLERS.get(log_type)
    if handler is None:
        raise errors.ServingError(
            grpc.StatusCode.UNIMPLEMENTED,
            f"Unsupported log_type for warmup: {log_type}. This server "
            f"replays {', '.join(_HANDLERS)} records.",
        )
    request = getattr(prediction_log, log_type).request
    for spec in _model_specs(request):
        spec.name = servable.name
        spec.version.value = servable.version
    handler(manager, request)


def _model_specs(request):
    # A MultiInferenceRequest has one ModelSpec per task.
    if hasattr(request, "tasks"):
        return [task.model_spec for task in request.tasks]
    return [request.model_spec]
