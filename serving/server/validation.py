"""Checks a request's TensorProtos before anything is decoded.

Decoding trusts the proto: a claimed shape is allocated, a short value list
is broadcast. So every input is checked first, cheaply and without
allocating: a dtype a signature can take, a fully defined shape within the
rank and dimension bounds, values stored in the field that belongs to the
dtype with a count that fits the shape (0 = zeros, 1 = broadcast, as
TensorFlow allows, or exactly one per element), `tensor_content` of exactly
shape x dtype-size bytes, and element and byte caps (`RequestLimits`).

Inconsistent tensors are INVALID_ARGUMENT ("tensor parsing error: NAME",
TensorFlow Serving's prefix); oversized ones are RESOURCE_EXHAUSTED.
"""

import dataclasses
import math

import tensorflow as tf

from serving import tensors
from serving.server import errors
from serving.server.limits import STRING_ELEMENT_OVERHEAD

# dtype -> (the TensorProto field holding its values, numbers per element).
# These are the dtypes a SignatureDef input can have and a client can send;
# resources, variants, quantized and reference types are not data.
VALUE_FIELDS = {
    tf.float32: ("float_val", 1),
    tf.float64: ("double_val", 1),
    tf.float16: ("half_val", 1),
    tf.bfloat16: ("half_val", 1),
    tf.int8: ("int_val", 1),
    tf.int16: ("int_val", 1),
    tf.int32: ("int_val", 1),
    tf.uint8: ("int_val", 1),
    tf.uint16: ("int_val", 1),
    tf.int64: ("int64_val", 1),
    tf.uint32: ("uint32_val", 1),
    tf.uint64: ("uint64_val", 1),
    tf.bool: ("bool_val", 1),
    tf.string: ("string_val", 1),
    tf.complex64: ("scomplex_val", 2),
    tf.complex128: ("dcomplex_val", 2),
}
_ALL_VALUE_FIELDS = frozenset(
    {field for field, _ in VALUE_FIELDS.values()}
    | {"resource_handle_val", "variant_val", "float8_val"}
)


@dataclasses.dataclass(frozen=True)
class _DtypeRule:
    """What a request's tensor of one dtype must look like, in plain values
    (TensorFlow's DType objects are slow to compare per request)."""

    name: str
    value_field: str
    values_per_element: int
    itemsize: int
    is_string: bool


_RULES = {
    dtype.as_datatype_enum: _DtypeRule(
        dtype.name, field, per_element, dtype.size, dtype == tf.string
    )
    for dtype, (field, per_element) in VALUE_FIELDS.items()
}


def check_request_size(request, limits):
    """Rejects a request whose serialized size exceeds the byte cap."""
    size = request.ByteSize()
    if size > limits.max_request_bytes:
        raise errors.resource_exhausted(
            f"Request of {size} bytes exceeds the server's limit of "
            f"{limits.max_request_bytes} bytes (max_request_bytes). Send "
            "fewer or smaller inputs per request."
        )


def check_tensors(protos, limits):
    """Checks named TensorProtos and the memory decoding them would take.

    Args:
        protos: Mapping[str, TensorProto]. Inputs by name.
        limits: RequestLimits.

    Raises:
        ServingError: INVALID_ARGUMENT or RESOURCE_EXHAUSTED for the first
            problem found.
    """
    total = sum(
        check_tensor(alias, protos[alias], limits) for alias in sorted(protos)
    )
    check_decoded_bytes(total, limits)


def check_tensor(alias, proto, limits):
    """Checks one TensorProto; returns the bytes decoding it would take."""
    rule = _allowed_dtype(alias, proto.dtype)
    shape = _checked_shape(alias, proto.tensor_shape, limits)
    num_elements = math.prod(shape)
    _check_element_count(alias, rule, shape, num_elements, limits)
    if proto.tensor_content:
        _check_content(alias, proto, rule, shape, num_elements)
    else:
        _check_values(alias, proto, rule, shape, num_elements)
    if rule.is_string:
        content = sum(len(value) for value in proto.string_val)
        return num_elements * STRING_ELEMENT_OVERHEAD + content
    return num_elements * rule.itemsize


def check_decoded_bytes(total, limits):
    if total > limits.max_decoded_bytes:
        raise errors.resource_exhausted(
            f"Decoding the request's inputs would take {total} bytes, more "
            f"than the server's limit of {limits.max_decoded_bytes} bytes "
            "(max_decoded_bytes). Send fewer or smaller inputs per request."
        )


def _parsing_error(alias, detail):
    return errors.invalid_argument(f"tensor parsing error: {alias}. {detail}")


def _allowed_dtype(alias, dtype_enum):
    rule = _RULES.get(dtype_enum)
    if rule is None:
        allowed = ", ".join(sorted(dtype.name for dtype in VALUE_FIELDS))
        raise _parsing_error(
            alias,
            f"Tensors of dtype {tensors.dtype_name(dtype_enum)} cannot be "
            f"sent to a model; use one of: {allowed}.",
        )
    return rule


def _checked_shape(alias, tensor_shape, limits):
    if tensor_shape.unknown_rank:
        raise _parsing_error(
            alias, "Tensor shape has an unknown rank; send every dimension."
        )
    if len(tensor_shape.dim) > limits.max_rank:
        raise _parsing_error(
            alias,
            f"Tensor has rank {len(tensor_shape.dim)}, more than the "
            f"server's limit of {limits.max_rank} (max_rank).",
        )
    shape = [dim.size for dim in tensor_shape.dim]
    if any(size < 0 for size in shape):
        raise _parsing_error(
            alias, f"Tensor shape {shape} has a negative dimension."
        )
    if any(size > limits.max_dimension for size in shape):
        raise errors.resource_exhausted(
            f"Input {alias} has shape {shape}, with a dimension larger than "
            f"the server's limit of {limits.max_dimension} (max_dimension)."
        )
    return shape


def _check_element_count(alias, rule, shape, num_elements, limits):
    limit, name = limits.max_tensor_elements, "max_tensor_elements"
    if rule.is_string and limits.max_string_elements < limit:
        limit, name = limits.max_string_elements, "max_string_elements"
    if num_elements > limit:
        raise errors.resource_exhausted(
            f"Input {alias} of shape {shape} has {num_elements} elements, "
            f"more than the server's limit of {limit} ({name})."
        )


def _check_content(alias, proto, rule, shape, num_elements):
    if rule.is_string:
        raise _parsing_error(
            alias,
            "A string tensor sends its values in string_val, not "
            "tensor_content.",
        )
    _check_no_other_values(alias, proto, rule, allowed=())
    expected = num_elements * rule.itemsize
    received = len(proto.tensor_content)
    if received != expected:
        raise _parsing_error(
            alias,
            f"tensor_content has {received} bytes but a {rule.name} tensor "
            f"of shape {shape} needs {expected}.",
        )


def _check_values(alias, proto, rule, shape, num_elements):
    field, per_element = rule.value_field, rule.values_per_element
    _check_no_other_values(alias, proto, rule, allowed=(field,))
    received = len(getattr(proto, field))
    allowed_counts = sorted(
        {0, per_element, num_elements * per_element} if num_elements else {0}
    )
    if received not in allowed_counts:
        raise _parsing_error(
            alias,
            f"{field} has {received} values but a {rule.name} tensor of "
            f"shape {shape} takes "
            f"{' or '.join(str(count) for count in allowed_counts)} "
            "(none means zeros; one element's worth is repeated).",
        )


def _check_no_other_values(alias, proto, rule, allowed):
    # ListFields() names only the fields that are set (non-empty).
    extra = [
        field.name
        for field, _ in proto.ListFields()
        if field.name in _ALL_VALUE_FIELDS and field.name not in allowed
    ]
    if extra:
        where = " or ".join(allowed + ("tensor_content",))
        raise _parsing_error(
            alias,
            f"A {rule.name} tensor carries its values in {where}, but "
            f"the request also set {min(extra)}.",
        )
