"""PredictionService.Classify: run a classify signature on tf.Examples.

The signature (method_name "tensorflow/serving/classify") takes serialized
tf.Examples under "inputs" and returns "classes" (DT_STRING) and/or
"scores" (DT_FLOAT), both [batch_size, num_classes]. Each example becomes
one `Classifications` whose i-th `Class` has the i-th label and score.
Codes and messages are TensorFlow Serving's (classifier.cc).
"""

import tensorflow as tf
from tensorflow_serving.apis import classification_pb2

from serving.server import errors
from serving.server import example_inference
from serving.server import method_names
from serving.server.limits import DEFAULT_LIMITS

METHOD_NAME = tf.saved_model.CLASSIFY_METHOD_NAME
CLASSES = tf.saved_model.CLASSIFY_OUTPUT_CLASSES
SCORES = tf.saved_model.CLASSIFY_OUTPUT_SCORES


def classify(
    manager, request, limits=DEFAULT_LIMITS, runner=None, deadline=None
):
    """Answers a ClassificationRequest.

    Args:
        manager: ModelManager. Where the requested servable is looked up.
        request: classification_pb2.ClassificationRequest.
        limits: RequestLimits. Caps on the examples' size.
        runner: SignatureRunner | None. Runs (and maybe batches) the
            signature; None runs it on its own.
        deadline: float | None. `time.monotonic()` time after which the
            client no longer waits.

    Returns:
        classification_pb2.ClassificationResponse.

    Raises:
        ServingError: INVALID_ARGUMENT for an unknown signature, one that
            is not a classify signature, or an empty input; NOT_FOUND for
            an unknown servable.
        tf.errors.OpError: if the model fails (e.g. an unparsable example).
    """
    return example_inference.answer(
        request,
        prepare,
        to_result,
        classification_pb2.ClassificationResponse(),
        example_inference.make_context(manager, limits, runner, deadline),
    )


def prepare(signature_def):
    """Checks a classify SignatureDef; returns (input key, output keys)."""
    method_names.check(signature_def, METHOD_NAME, "classification")
    key = example_inference.input_key(signature_def, "classification")
    if len(signature_def.outputs) not in (1, 2):
        raise errors.invalid_argument(
            "Expected one or two output Tensors, found "
            f"{len(signature_def.outputs)}"
        )
    output_keys = [k for k in (CLASSES, SCORES) if k in signature_def.outputs]
    if not output_keys:
        raise errors.invalid_argument(
            "Expected classification signature outputs to contain at least "
            f'one of "{CLASSES}" or "{SCORES}". Signature was: '
            f"{example_inference.debug(signature_def)}"
        )
    return key, output_keys


def to_result(output_keys, outputs, num_examples, result):
    """Fills a ClassificationResult from the signature's outputs."""
    classes = outputs[CLASSES] if CLASSES in output_keys else None
    scores = outputs[SCORES] if SCORES in output_keys else None
    _check_output(classes, "classes", tf.string, num_examples)
    _check_output(scores, "scores", tf.float32, num_examples)
    num_classes = _num_classes(classes, scores)
    labels = None if classes is None else classes.numpy()
    values = None if scores is None else scores.numpy()
    for i in range(num_examples):
        classifications = result.classifications.add()
        for c in range(num_classes):
            label = classifications.classes.add()
            if labels is not None:
                label.label = labels[i, c].decode("utf-8", "replace")
            if values is not None:
                label.score = values[i, c]


def _check_output(tensor, name, dtype, num_examples):
    if tensor is None:
        return
    if tensor.shape.rank != 2:
        raise errors.invalid_argument(
            "Expected Tensor shape: [batch_size num_classes] but got "
            f"{example_inference.shape_string(tensor)}"
        )
    if tensor.dtype != dtype:
        raise errors.invalid_argument(
            f"Expected {name} Tensor of "
            f"{example_inference.dtype_name(dtype)}. Got: "
            f"{example_inference.dtype_name(tensor.dtype)}"
        )
    if tensor.shape[0] != num_examples:
        raise errors.invalid_argument(
            f"Expected {name} output batch size of {num_examples}. Got: "
            f"{tensor.shape[0]}"
        )


def _num_classes(classes, scores):
    if classes is not None and scores is not None:
        if classes.shape[1] != scores.shape[1]:
            raise errors.invalid_argument(
                "Tensors class and score should match in dim_size(1). Got "
                f"{classes.shape[1]} vs. {scores.shape[1]}"
            )
    tensor = classes if classes is not None else scores
    return tensor.shape[1]
