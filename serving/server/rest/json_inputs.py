"""Decoding a REST predict body into numpy arrays, like TensorFlow Serving.

A body is a JSON object with an optional "signature_name" and exactly one
of two layouts:

- row ("instances"): a list with one entry per example, either the value
  of the only input or an object with one value per input name; the
  entries are stacked along a new batch dimension;
- columnar ("inputs"): the value of the only input, or an object mapping
  each input name to its whole (batched) value.

An input the signature gives a default value may be left out of the
object (or of every instance's object); when only one input has none, a
plain value feeds that one.

Each value is converted to the dtype the signature declares, so `1` feeds
a float input as 1.0. As in TensorFlow Serving, a float input rejects
integers it cannot hold exactly (beyond 2**24 for float32), an integer or
bool input rejects values of another JSON type, and a string input takes
JSON strings (UTF-8 encoded) or {"b64": "..."} objects for binary data.
NaN, Infinity and -Infinity are accepted for float inputs.

Numbers go through `np.asarray` in one step; only the error path walks
the JSON values to name the offending one.
"""

import base64
import binascii
import json

import grpc
import numpy as np
import tensorflow as tf

from serving.server import errors

ROW = "row"
COLUMNAR = "columnar"
SIGNATURE_KEY = "signature_name"
INSTANCES_KEY = "instances"
INPUTS_KEY = "inputs"
B64_KEY = "b64"
_MAX_QUOTED_CHARS = 200
# The largest integers these float types hold exactly, and their range.
_EXACT_INTEGER_LIMITS = {np.float32: 2**24 - 1, np.float64: 2**53 - 1}
_FLOAT_RANGES = {np.float32: float(np.finfo(np.float32).max)}
# A JSON null is a value, so "no leaf found" needs its own marker.
_NOT_FOUND = object()


def parse_body(body):
    """Parses a request body that must be one JSON object.

    Raises:
        ServingError: INVALID_ARGUMENT "JSON Parse error: ..." naming the
            problem and its position, or "... Is not object".
    """
    if not body:
        raise errors.invalid_argument("JSON Parse error: The document is empty")
    try:
        # The default parser accepts NaN, Infinity and -Infinity, as
        # TensorFlow Serving's does.
        document = json.loads(body)
    except (ValueError, RecursionError) as error:
        # json.JSONDecodeError and UnicodeDecodeError are ValueErrors.
        raise errors.invalid_argument(f"JSON Parse error: {error}") from None
    if not isinstance(document, dict):
        raise errors.invalid_argument(
            f"JSON Value: {quote(document)} Is not object"
        )
    return document


def signature_name(document):
    """Returns the body's "signature_name", or "" for the default one."""
    name = document.get(SIGNATURE_KEY, "")
    if not isinstance(name, str):
        raise errors.invalid_argument(
            f"JSON Value: {quote(document)} not formatted correctly. "
            "'signature_name' key must be a string value."
        )
    return name


def decode_inputs(document, input_dtypes, defaults=frozenset()):
    """Converts a predict body's inputs to arrays of the signature's dtypes.

    Args:
        document: dict. The parsed body.
        input_dtypes: dict[str, tf.DType]. The signature's inputs.
        defaults: frozenset[str]. Inputs that may be left out.

    Returns:
        (layout, dict[str, np.ndarray]): ROW or COLUMNAR (which decides the
        response format) and one array per input sent.

    Raises:
        ServingError: INVALID_ARGUMENT for a body that does not match the
            signature, UNIMPLEMENTED for an input dtype JSON cannot carry.
    """
    has_rows = INSTANCES_KEY in document
    if has_rows and INPUTS_KEY in document:
        raise errors.invalid_argument(
            f"JSON Value: {quote(document)} Not formatted correctly "
            "expecting only one of 'inputs' or 'instances' keys to exist"
        )
    inputs = _Inputs(input_dtypes, defaults)
    if has_rows:
        values = _columns_from_rows(document, inputs)
    elif INPUTS_KEY in document:
        values = _columns(document[INPUTS_KEY], inputs)
    else:
        raise errors.invalid_argument("Missing 'inputs' or 'instances' key")
    arrays = {
        name: to_array(name, value, input_dtypes[name])
        for name, value in values.items()
    }
    return (ROW if has_rows else COLUMNAR), arrays


class _Inputs:
    """A signature's inputs: their dtypes and which ones may be left out."""

    def __init__(self, dtypes, defaults):
        self.dtypes = dtypes
        self.required = sorted(set(dtypes) - defaults)

    def plain_value_name(self):
        """The input a plain (unnamed) value feeds, or None if ambiguous."""
        if len(self.dtypes) == 1:
            return next(iter(self.dtypes))
        if len(self.required) == 1:
            return self.required[0]
        return None

    def accepts_names(self, names):
        return set(self.required) <= names <= self.dtypes.keys()


def to_array(name, value, dtype):
    """Converts one input's JSON value to a dense array of `dtype`."""
    if dtype == tf.string:
        return _string_array(name, value)
    if not (dtype.is_floating or dtype.is_integer or dtype == tf.bool):
        raise errors.ServingError(
            grpc.StatusCode.UNIMPLEMENTED,
            f"Conversion of JSON Value: {quote(value)} to type: "
            f"{dtype.name} is not supported.",
        )
    try:
        array = np.asarray(value)
    except (ValueError, OverflowError) as error:
        raise errors.invalid_argument(
            f"Input {name!r} is not a dense tensor: {error}"
        ) from None
    target = dtype.as_numpy_dtype
    if array.size:
        _check_numbers(value, array, dtype, target)
    return array.astype(target, copy=False)


def is_b64(value):
    """True for a {"b64": "<base64>"} binary value."""
    return (
        isinstance(value, dict)
        and len(value) == 1
        and isinstance(value.get(B64_KEY), str)
    )


def quote(value):
    """A JSON value as text for an error message, cut to a sane length."""
    text = json.dumps(value)
    if len(text) > _MAX_QUOTED_CHARS:
        text = text[:_MAX_QUOTED_CHARS] + "..."
    return text


def _is_named(value):
    return isinstance(value, dict) and not is_b64(value)


def _columns_from_rows(document, inputs):
    instances = document[INSTANCES_KEY]
    if not isinstance(instances, list):
        raise errors.invalid_argument(
            f"JSON Value: {quote(document)} Excepting 'instances' to be an "
            "list/array"
        )
    if not instances:
        raise errors.invalid_argument(
            f"JSON Value: {quote(document)} No values in 'instances' array"
        )
    if not _is_named(instances[0]):
        name = inputs.plain_value_name()
        if name is None:
            raise errors.invalid_argument(
                "instances is a plain list, but expecting list of objects as "
                "multiple input tensors required as per tensorinfo_map"
            )
        return {name: instances}
    names = instances[0].keys()
    if not inputs.accepts_names(names):
        raise _instance_keys_error(0, instances[0], inputs)
    columns = {name: [] for name in sorted(names)}
    for index, instance in enumerate(instances):
        if not _is_named(instance):
            raise errors.invalid_argument(
                f"Expecting object but got list at item {index} of input list"
            )
        if instance.keys() != names:
            raise _instance_keys_error(index, instance, inputs)
        for name, value in instance.items():
            columns[name].append(value)
    return columns


def _instance_keys_error(index, instance, inputs):
    return errors.invalid_argument(
        f"Failed to process element: {index} of 'instances' list. "
        f"JSON object: {quote(instance)} keys must be equal to: "
        f"{','.join(sorted(inputs.dtypes))}"
    )


def _columns(value, inputs):
    if not _is_named(value):
        name = inputs.plain_value_name()
        if name is None:
            raise errors.invalid_argument(
                "inputs is a plain value/list, but expecting an object as "
                "multiple input tensors required as per tensorinfo_map"
            )
        return {name: value}
    for name in inputs.required:
        if name not in value:
            raise errors.invalid_argument(
                f"Missing named input: {name} in 'inputs' object."
            )
    return {name: value[name] for name in inputs.dtypes if name in value}


def _check_numbers(value, array, dtype, target):
    if dtype.is_floating:
        allowed_kinds = "iuf"
    elif dtype.is_integer:
        allowed_kinds = "iu"
    else:
        allowed_kinds = "b"
    if array.dtype.kind not in allowed_kinds:
        leaf = _first_leaf(value, lambda leaf: not _json_kind_ok(leaf, dtype))
        if leaf is _NOT_FOUND:
            # Only integers too large for any numpy type get here.
            raise errors.invalid_argument(
                f"JSON Value: {quote(value)} cannot be converted to "
                f"{dtype.name}: a number is out of range."
            )
        raise _type_error(leaf, dtype)
    if array.dtype.kind in "iu" and dtype.is_integer:
        limits = np.iinfo(target)
        _check_range(array, limits.min, limits.max, dtype)
    elif array.dtype.kind in "iu":
        limit = _EXACT_INTEGER_LIMITS.get(target)
        if limit is not None:
            _check_lossless(array, np.abs(array) > limit, dtype)
    elif target in _FLOAT_RANGES:
        with np.errstate(invalid="ignore"):
            too_big = np.isfinite(array) & (
                np.abs(array) > _FLOAT_RANGES[target]
            )
        _check_lossless(array, too_big, dtype)


def _json_kind_ok(leaf, dtype):
    if dtype == tf.bool:
        return isinstance(leaf, bool)
    if isinstance(leaf, bool) or not isinstance(leaf, int | float):
        return False
    return dtype.is_floating or isinstance(leaf, int)


def _check_range(array, low, high, dtype):
    outside = (array < low) | (array > high)
    if outside.any():
        raise _type_error(array[outside].flat[0].item(), dtype)


def _check_lossless(array, lossy, dtype):
    if lossy.any():
        raise errors.invalid_argument(
            f"Cannot convert JSON value: {quote(array[lossy].flat[0].item())} "
            f"to {dtype.name} without loss of precision."
        )


def _type_error(leaf, dtype):
    return errors.invalid_argument(
        f"JSON Value: {quote(leaf)} Type: {json_type(leaf)} is not of "
        f"expected type: {dtype.name}"
    )


def json_type(value):
    """TensorFlow Serving's name for a JSON value's type, e.g. "String"."""
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def _first_leaf(value, predicate):
    """Returns the first non-list value matching predicate (depth first)."""
    if not isinstance(value, list):
        return value if predicate(value) else _NOT_FOUND
    for item in value:
        found = _first_leaf(item, predicate)
        if found is not _NOT_FOUND:
            return found
    return _NOT_FOUND


def _string_array(name, value):
    shape = _dense_shape(value)
    flat = []
    _collect_strings(name, value, shape, 0, flat)
    array = np.empty(len(flat), dtype=object)
    array[:] = flat
    return array.reshape(shape)


def _dense_shape(value):
    # Like TensorFlow Serving: the shape follows the first element of each
    # list; _collect_strings then checks every list against it.
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return tuple(shape)


def _collect_strings(name, value, shape, level, flat):
    if not isinstance(value, list):
        if level != len(shape):
            raise errors.invalid_argument(
                f"Input {name!r}: JSON Value: {quote(value)} found at "
                f"incorrect level: {level + 1} in the JSON DOM. Expected at "
                f"level: {len(shape)}"
            )
        flat.append(_string_value(value))
        return
    if level >= len(shape) or len(value) != shape[level]:
        raise errors.invalid_argument(
            f"Input {name!r}: encountered list of size {len(value)} at "
            f"level {level}; expected a dense tensor of shape {list(shape)}"
        )
    for item in value:
        _collect_strings(name, item, shape, level + 1, flat)


def _string_value(value):
    if isinstance(value, str):
        return value.encode("utf-8")
    if not is_b64(value):
        raise _type_error(value, tf.string)
    return decode_b64(value)


def decode_b64(value):
    """The bytes of a {"b64": "<base64>"} value (INVALID_ARGUMENT if bad)."""
    encoded = value[B64_KEY]
    try:
        # TensorFlow Serving also accepts base64 without its "=" padding.
        return base64.b64decode(
            encoded + "=" * (-len(encoded) % 4), validate=True
        )
    except (binascii.Error, ValueError):
        raise errors.invalid_argument(
            f"Unable to base64 decode: {quote(value)}"
        ) from None
