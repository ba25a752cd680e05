"""Conversion between Python/numpy values and `TensorProto`.

Both the client and the server speak `tensorflow.TensorProto` on the wire.
Encoding follows `tf.constant`'s conventions so that a value means the same
thing here as in TensorFlow:

- numpy arrays keep their dtype and shape;
- Python scalars and (nested) lists are converted like `tf.constant` does:
  `float` -> float32, `int` -> int32, `bool` -> bool, `str`/`bytes` ->
  string; a scalar becomes a rank-0 tensor, a list keeps its nesting as
  shape;
- `str` values (and numpy unicode arrays) are UTF-8 encoded.

Decoding accepts both the packed `tensor_content` field and the typed
`*_val` fields (with TensorFlow's rule that a short `*_val` list is padded
with its last value). Strings decode to numpy object arrays of `bytes`.
"""

import math

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2
from tensorflow.core.framework import tensor_shape_pb2
from tensorflow.core.framework import types_pb2


def to_tensor_proto(value):
    """Encodes a numpy array, scalar, list, `bytes` or `str` as a TensorProto.

    Args:
        value: np.ndarray | np.generic | bytes | str | bool | int | float |
            list. See the module docstring for the dtype rules.

    Returns:
        A `tensorflow.core.framework.tensor_pb2.TensorProto`.

    Raises:
        TypeError: if the value cannot be represented as a tensor.
    """
    if isinstance(value, tensor_pb2.TensorProto):
        return value
    if (
        isinstance(value, np.ndarray)
        and (value.dtype.kind, value.itemsize) in _DATATYPE_BY_KIND_AND_SIZE
    ):
        return _packed_tensor_proto(value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "US":
        # make_tensor_proto rejects numpy unicode arrays; send UTF-8 bytes.
        value = np.vectorize(_as_bytes, otypes=[object])(value)
    try:
        return tf.make_tensor_proto(value)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"Cannot encode a value of type {type(value).__name__} as a "
            f"tensor: {error}. Pass a numpy array, a scalar, bytes, str or "
            "a (nested) list of those with a uniform shape."
        ) from error


def to_typed_tensor_proto(value):
    """Encodes a value like `to_tensor_proto`, but with numbers and bools in
    the dtype's own repeated field (`float_val`, `int_val`, ...) instead of
    packed `tensor_content`.

    This is TensorFlow's Tensor::AsProtoField, what TensorFlow Serving
    writes Predict outputs with by default; clients that read
    `response.outputs[name].float_val` rely on it.
    """
    if isinstance(value, tensor_pb2.TensorProto):
        return value
    array = np.asarray(value)
    dtype_enum = _DATATYPE_BY_KIND_AND_SIZE.get(
        (array.dtype.kind, array.itemsize)
    )
    if dtype_enum is None:
        # Strings (already in string_val) and dtypes without a typed field.
        return to_tensor_proto(value)
    proto = tensor_pb2.TensorProto(dtype=dtype_enum)
    proto.tensor_shape.dim.extend(
        tensor_shape_pb2.TensorShapeProto.Dim(size=size) for size in array.shape
    )
    field, view = _TYPED_FIELDS[dtype_enum]
    flat = array.reshape(-1)
    if view is not None:
        flat = flat.view(view)
    # tolist() first: extending from a numpy array is several times slower.
    getattr(proto, field).extend(flat.tolist())
    return proto


def to_ndarray(proto):
    """Decodes a TensorProto into a numpy array.

    Args:
        proto: tensor_pb2.TensorProto.

    Returns:
        np.ndarray; string tensors come back as object arrays of `bytes`.

    Raises:
        ValueError: if the proto is malformed: an unknown rank or negative
            dimension, an unsupported dtype, or a `tensor_content` whose
            length does not match the shape and dtype.
    """
    wire_dtype = _WIRE_DTYPES.get(proto.dtype)
    if wire_dtype is None:
        _numpy_compatible_dtype(proto.dtype)
    shape = _fully_defined_shape(proto)
    if proto.tensor_content and wire_dtype is not None:
        _check_content_length(proto, wire_dtype, shape)
        return _unpacked_ndarray(proto, wire_dtype, shape)
    try:
        return tf.make_ndarray(proto)
    except (TypeError, ValueError, KeyError) as error:
        raise ValueError(
            f"Cannot decode a {dtype_name(proto.dtype)} tensor of shape "
            f"{list(shape)}: {error}"
        ) from error


# Numeric and bool dtypes whose tensor_content is their numpy bytes,
# little-endian and row-major, as tf.make_tensor_proto writes them. Packing
# and unpacking them directly skips TensorFlow's generic conversions, a
# measurable part of a small request's latency (scripts/bench_serving.py).
_PACKED_DTYPES = (
    tf.bool,
    tf.int8,
    tf.int16,
    tf.int32,
    tf.int64,
    tf.uint8,
    tf.uint16,
    tf.uint32,
    tf.uint64,
    tf.float16,
    tf.float32,
    tf.float64,
    tf.complex64,
    tf.complex128,
)
# DataType enum -> little-endian numpy dtype of its tensor_content.
_WIRE_DTYPES = {
    dtype.as_datatype_enum: np.dtype(dtype.as_numpy_dtype).newbyteorder("<")
    for dtype in _PACKED_DTYPES
}
# (numpy kind, item size) -> DataType enum, whatever the byte order.
_DATATYPE_BY_KIND_AND_SIZE = {
    (wire.kind, wire.itemsize): enum for enum, wire in _WIRE_DTYPES.items()
}


# DataType enum -> (its typed value field, the numpy view whose items the
# field holds: half_val keeps float16 bits, complex fields interleave the
# real and imaginary parts), as TensorFlow's AsProtoField writes them.
_TYPED_FIELDS = {
    types_pb2.DT_FLOAT: ("float_val", None),
    types_pb2.DT_DOUBLE: ("double_val", None),
    types_pb2.DT_HALF: ("half_val", np.uint16),
    types_pb2.DT_INT8: ("int_val", None),
    types_pb2.DT_INT16: ("int_val", None),
    types_pb2.DT_INT32: ("int_val", None),
    types_pb2.DT_UINT8: ("int_val", None),
    types_pb2.DT_UINT16: ("int_val", None),
    types_pb2.DT_INT64: ("int64_val", None),
    types_pb2.DT_UINT32: ("uint32_val", None),
    types_pb2.DT_UINT64: ("uint64_val", None),
    types_pb2.DT_BOOL: ("bool_val", None),
    types_pb2.DT_COMPLEX64: ("scomplex_val", np.float32),
    types_pb2.DT_COMPLEX128: ("dcomplex_val", np.float64),
}


def _packed_tensor_proto(array):
    proto = tensor_pb2.TensorProto(
        dtype=_DATATYPE_BY_KIND_AND_SIZE[array.dtype.kind, array.itemsize]
    )
    proto.tensor_shape.dim.extend(
        tensor_shape_pb2.TensorShapeProto.Dim(size=size) for size in array.shape
    )
    # tobytes() writes row-major order whatever the array's memory layout.
    little_endian = array.dtype.newbyteorder("<")
    proto.tensor_content = array.astype(little_endian, copy=False).tobytes()
    return proto


def _unpacked_ndarray(proto, wire_dtype, shape):
    array = np.frombuffer(proto.tensor_content, dtype=wire_dtype)
    # A copy: frombuffer's array is read-only and pins the request bytes.
    return array.reshape(shape).astype(wire_dtype.newbyteorder("="))


def dtype_name(dtype_enum):
    """Names a `types_pb2.DataType` enum like TensorFlow does ("float32").

    Falls back to the proto enum name (e.g. "DT_INVALID") for values that
    have no TensorFlow dtype, and to "DataType 999" for numbers that are
    not in the enum at all (a proto3 enum field accepts any int).
    """
    try:
        return tf.as_dtype(dtype_enum).name
    except TypeError:
        if dtype_enum in types_pb2.DataType.values():
            return types_pb2.DataType.Name(dtype_enum)
        return f"DataType {dtype_enum}"


def _as_bytes(text):
    return text.encode("utf-8") if isinstance(text, str) else bytes(text)


def _numpy_compatible_dtype(dtype_enum):
    try:
        dtype = tf.as_dtype(dtype_enum)
    except TypeError as error:
        raise ValueError(
            f"Tensor has an invalid dtype enum {dtype_enum}."
        ) from error
    # Resources and variants are handles into a running graph, not data.
    if dtype in (tf.resource, tf.variant):
        raise ValueError(f"Tensors of dtype {dtype.name} cannot be decoded.")
    return dtype


def _fully_defined_shape(proto):
    if proto.tensor_shape.unknown_rank:
        raise ValueError("Tensor shape has an unknown rank.")
    shape = tuple(dim.size for dim in proto.tensor_shape.dim)
    if any(size < 0 for size in shape):
        raise ValueError(
            f"Tensor shape {list(shape)} has a negative dimension."
        )
    return shape


def _check_content_length(proto, wire_dtype, shape):
    expected = math.prod(shape) * wire_dtype.itemsize
    received = len(proto.tensor_content)
    if received != expected:
        raise ValueError(
            f"tensor_content has {received} bytes but a {wire_dtype.name} "
            f"tensor of shape {list(shape)} needs {expected}."
        )
