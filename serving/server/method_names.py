"""TensorFlow Serving's --enable_signature_method_name_check.

A SignatureDef's method_name says which API it was exported for. TF2's
`tf.saved_model.save` writes "tensorflow/serving/predict" for every
signature, so TensorFlow Serving leaves the check off by default: Classify
and Regress then run any signature whose inputs and outputs have their
shape ("inputs" -> "classes"/"scores", "inputs" -> "outputs"). With the
check on, Classify and Regress need their own method name and Predict
refuses signatures of any other kind, with TensorFlow Serving's messages.

The switch is process-wide, as in TensorFlow Serving: the server sets it
once at startup from its flag.
"""

import grpc
import tensorflow as tf

from serving.server import errors

PREDICT = tf.saved_model.PREDICT_METHOD_NAME
CLASSIFY = tf.saved_model.CLASSIFY_METHOD_NAME
REGRESS = tf.saved_model.REGRESS_METHOD_NAME

_enabled = False


def enable_check(enabled):
    """Turns the check on or off for the whole process."""
    global _enabled
    _enabled = bool(enabled)


def check(signature_def, method_name, kind):
    """With the check on, rejects a signature exported for another API.

    Args:
        signature_def: SignatureDef. The signature a request names.
        method_name: str. The method the API needs (CLASSIFY, REGRESS).
        kind: str. "classification" or "regression", for the message.
    """
    if _enabled and signature_def.method_name != method_name:
        raise errors.invalid_argument(
            f"Expected {kind} signature method_name to be {method_name}. "
            f"Was: {signature_def.method_name}"
        )


def check_predict(signature_def):
    """With the check on, Predict runs predict/classify/regress signatures
    only (INTERNAL otherwise, as TensorFlow Serving answers)."""
    if _enabled and signature_def.method_name not in (
        PREDICT,
        CLASSIFY,
        REGRESS,
    ):
        raise errors.ServingError(
            grpc.StatusCode.INTERNAL,
            "Expected prediction signature method_name to be one of "
            f"{{{PREDICT}, {CLASSIFY}, {REGRESS}}}. Was: "
            f"{signature_def.method_name}",
        )
