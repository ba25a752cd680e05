"""Encoding predict outputs as TensorFlow Serving's REST JSON.

A row-format request ("instances") is answered with "predictions": one
entry per example, the value itself when the signature has one output, or
an object keyed by output name otherwise; every output must then share its
first (batch) dimension. A columnar request ("inputs") is answered with
"outputs": the only output's value, or an object of all of them.

Values follow TensorFlow Serving's JSON mapping: float32 values are written
with their shortest round-tripping decimal (0.1, not 0.10000000149011612),
NaN and infinities as the tokens NaN, Infinity and -Infinity, and strings
as UTF-8 text except for outputs whose name ends in "_bytes", which are
written as {"b64": "..."}. A string that is not valid UTF-8 is written as
{"b64": ...} too, rather than as the invalid JSON TensorFlow Serving emits.
"""

import base64
import json

import numpy as np

from serving.server import errors
from serving.server.rest import json_inputs

PREDICTIONS_KEY = "predictions"
OUTPUTS_KEY = "outputs"
BYTES_SUFFIX = "_bytes"
# Float types whose values need their own shortest decimal; float64
# values already print that way from Python floats.
_NARROW_FLOAT_NAMES = frozenset({"float16", "float32", "bfloat16"})


def encode_outputs(outputs, layout):
    """Builds the JSON response body of a predict call.

    Args:
        outputs: dict[str, np.ndarray]. The response tensors by name.
        layout: json_inputs.ROW or json_inputs.COLUMNAR, as the request was.

    Returns:
        bytes. The UTF-8 JSON body.

    Raises:
        ServingError: INVALID_ARGUMENT if row format is impossible (a
            scalar output, or outputs with different batch sizes) or an
            output has a dtype JSON cannot carry.
    """
    if layout == json_inputs.ROW:
        body = {PREDICTIONS_KEY: _rows(outputs)}
    else:
        body = {OUTPUTS_KEY: _single_or_named(outputs)}
    return dumps(body)


def dumps(body):
    """Compact JSON; allow_nan writes NaN/Infinity as TF Serving does."""
    return json.dumps(
        body, separators=(",", ":"), ensure_ascii=False, allow_nan=True
    ).encode("utf-8")


def to_json_value(name, array):
    """Converts an array to nested lists of JSON-ready Python values."""
    kind = array.dtype.kind
    if array.dtype.name in _NARROW_FLOAT_NAMES:
        # numpy's str() of a float32 is its shortest round-tripping decimal;
        # parsing that as float64 gives a Python float that prints the same.
        return array.astype(str).astype(np.float64).tolist()
    if kind in "biuf":
        return array.tolist()
    if kind == "O":
        converted = _STRING_CONVERTERS[name.endswith(BYTES_SUFFIX)](array)
        # A ufunc on a rank-0 array returns the bare converted value.
        if isinstance(converted, np.ndarray):
            return converted.tolist()
        return converted
    raise errors.invalid_argument(
        f"Failed to write JSON value for tensor type: {array.dtype.name}"
    )


def _rows(outputs):
    batch_size = None
    for name, array in outputs.items():
        if array.ndim == 0:
            raise errors.invalid_argument(
                f"Tensor name: {name} has no shape information"
            )
        if batch_size is not None and array.shape[0] != batch_size:
            raise errors.invalid_argument(
                f"Tensor name: {name} has inconsistent batch size: "
                f"{array.shape[0]} expecting: {batch_size}"
            )
        batch_size = array.shape[0]
    values = {name: to_json_value(name, a) for name, a in outputs.items()}
    if len(values) == 1:
        return next(iter(values.values()))
    return [
        {name: rows[index] for name, rows in values.items()}
        for index in range(batch_size)
    ]


def _single_or_named(outputs):
    values = {name: to_json_value(name, a) for name, a in outputs.items()}
    if len(values) == 1:
        return next(iter(values.values()))
    return values


def _b64(data):
    return {json_inputs.B64_KEY: base64.b64encode(data).decode("ascii")}


def _text_or_b64(data):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return _b64(data)


_STRING_CONVERTERS = {
    True: np.frompyfunc(_b64, 1, 1),
    False: np.frompyfunc(_text_or_b64, 1, 1),
}
