"""The JSON of REST :classify and :regress calls, like TensorFlow Serving.

A body holds "examples", a non-empty list of objects mapping feature
names to a value or a list of values, and optionally a "context" object
of features shared by every example. Each JSON value picks its feature
kind: strings and {"b64": ...} objects are bytes, whole numbers and
booleans int64, numbers with a fraction or exponent float. All values of
one feature must have the same kind.

Both calls answer {"results": ...}: for classify, one list of
[label, score] pairs per example; for regress, one number per example.
"""

import math

import numpy as np
from tensorflow_serving.apis import input_pb2

from serving.server import errors
from serving.server.rest import json_inputs
from serving.server.rest import json_outputs

EXAMPLES_KEY = "examples"
CONTEXT_KEY = "context"
RESULTS_KEY = "results"
_INT64_RANGE = (-(2**63), 2**63 - 1)
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def decode_input(document, verb):
    """Builds the `Input` proto of a classify or regress body.

    Args:
        document: dict. The parsed body.
        verb: str. "classify" or "regress", named in error messages.

    Raises:
        ServingError: INVALID_ARGUMENT naming the malformed part.
    """
    input_proto = input_pb2.Input()
    if CONTEXT_KEY in document:
        with_context = input_proto.example_list_with_context
        _fill_example(document[CONTEXT_KEY], with_context.context)
        examples = with_context.examples
    else:
        examples = input_proto.example_list.examples
    for value in _example_values(document, verb):
        _fill_example(value, examples.add())
    return input_proto


def encode_classification(result):
    """{"results": [[[label, score], ...] per example]} as bytes."""
    return json_outputs.dumps(
        {
            RESULTS_KEY: [
                [
                    [label.label, _float32(label.score)]
                    for label in classifications.classes
                ]
                for classifications in result.classifications
            ]
        }
    )


def encode_regression(result):
    """{"results": [value per example]} as bytes."""
    return json_outputs.dumps(
        {RESULTS_KEY: [_float32(r.value) for r in result.regressions]}
    )


def _float32(value):
    # A float proto field reads back as the float32's exact double; its
    # shortest float32 decimal is what TensorFlow Serving prints.
    return float(str(np.float32(value)))


def _example_values(document, verb):
    quoted = json_inputs.quote(document)
    if EXAMPLES_KEY not in document:
        raise errors.invalid_argument(
            f"JSON Value: {quoted} When method is {verb}, key "
            f"'{EXAMPLES_KEY}' is expected and was not found"
        )
    values = document[EXAMPLES_KEY]
    if not isinstance(values, list):
        raise errors.invalid_argument(
            f"JSON Value: {quoted} Expecting '{EXAMPLES_KEY}' value to be an "
            "list/array"
        )
    if not values:
        raise errors.invalid_argument(
            f"JSON Value: {quoted} '{EXAMPLES_KEY}' value is an empty array"
        )
    return values


def _fill_example(value, example):
    if not isinstance(value, dict):
        raise errors.invalid_argument(
            "Example must be JSON object but got JSON "
            f"{json_inputs.json_type(value)}"
        )
    for name, content in value.items():
        feature = example.features.feature[name]
        for item in content if isinstance(content, list) else [content]:
            _add_value(name, item, feature)


def _add_value(name, value, feature):
    if isinstance(value, bool):
        _values(name, feature, "int64_list").append(int(value))
    elif isinstance(value, str):
        _values(name, feature, "bytes_list").append(value.encode("utf-8"))
    elif json_inputs.is_b64(value):
        data = json_inputs.decode_b64(value)
        _values(name, feature, "bytes_list").append(data)
    elif isinstance(value, float):
        if math.isfinite(value) and abs(value) > _FLOAT32_MAX:
            raise errors.invalid_argument(
                f"Cannot convert JSON value: {value} to float without loss "
                "of precision."
            )
        _values(name, feature, "float_list").append(value)
    elif isinstance(value, int):
        if not _INT64_RANGE[0] <= value <= _INT64_RANGE[1]:
            raise errors.invalid_argument(
                f"Feature: {name} has uint64 element. Only int64 is supported."
            )
        _values(name, feature, "int64_list").append(value)
    else:
        raise errors.invalid_argument(
            f"Feature: {name} has element with unexpected JSON type: "
            f"{json_inputs.json_type(value)}"
        )


def _values(name, feature, kind):
    current = feature.WhichOneof("kind")
    if current is not None and current != kind:
        raise errors.invalid_argument(
            f"Unexpected element type in feature: {name} expecting type: "
            f"{_KIND_NAMES[current]}"
        )
    return getattr(feature, kind).value


_KIND_NAMES = {
    "bytes_list": "bytes",
    "float_list": "float",
    "int64_list": "int64",
}
