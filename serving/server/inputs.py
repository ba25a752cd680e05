"""Checks a request's input tensors against a signature and decodes them.

What would make decoding unsafe is reported before anything is decoded:
the set of input names (TensorFlow Serving's messages), each TensorProto
on its own (`validation`: dtype, shape, value counts, size caps), then
each tensor's dtype against the signature's.

The shape a SignatureDef records for an input is not checked. As in
TensorFlow Serving, it is advisory: the graph decides, so TensorFlow
Serving's `half_plus_two`, recorded as (-1, 1), answers a request of
shape (3,), and a shape the graph cannot take fails inside it with
TensorFlow's own INVALID_ARGUMENT. The recorded shape still decides which
requests may be merged into one batch (`fits_shape`).
"""

from serving import tensors
from serving.server import errors
from serving.server import validation
from serving.server.limits import DEFAULT_LIMITS


def decode_inputs(
    signature_name, input_specs, request_inputs, limits=DEFAULT_LIMITS
):
    """Validates and decodes the `inputs` map of a PredictRequest.

    Args:
        signature_name: str. Named in error messages.
        input_specs: dict[str, tf.TensorSpec]. The signature's inputs.
        request_inputs: Mapping[str, TensorProto]. The request's inputs.
        limits: RequestLimits. Size caps checked before decoding.

    Returns:
        dict[str, np.ndarray], one array per signature input, with the
        signature's dtype (strings as object arrays of bytes).

    Raises:
        ServingError: INVALID_ARGUMENT for a tensor that does not fit the
            signature or is malformed, RESOURCE_EXHAUSTED for one above
            the limits.
    """
    _check_input_names(input_specs, request_inputs)
    validation.check_tensors(request_inputs, limits)
    return {
        alias: _decode_input(signature_name, alias, spec, request_inputs[alias])
        for alias, spec in sorted(input_specs.items())
    }


def _check_input_names(input_specs, request_inputs):
    expected = set(input_specs)
    sent = set(request_inputs)
    if len(sent) != len(expected):
        raise errors.invalid_argument(
            f"input size does not match signature: {len(sent)}!="
            f"{len(expected)} len({_join(sent)}) != len({_join(expected)}). "
            f"Sent extra: {_join(sent - expected)}. "
            f"Missing but required: {_join(expected - sent)}."
        )
    unexpected = sent - expected
    if unexpected:
        raise errors.invalid_argument(
            "input tensor alias not found in signature: "
            f"{min(unexpected)}. Inputs expected to be in the set "
            f"{_join(expected)}."
        )


def _decode_input(signature_name, alias, spec, proto):
    where = f'Input "{alias}" of signature "{signature_name}"'
    if proto.dtype != spec.dtype.as_datatype_enum:
        raise errors.invalid_argument(
            f"{where} expects dtype {spec.dtype.name}, but the request sent "
            f"{tensors.dtype_name(proto.dtype)}."
        )
    try:
        return tensors.to_ndarray(proto)
    except ValueError as error:
        raise errors.invalid_argument(
            f"tensor parsing error: {alias}. {error}"
        ) from error


def fits_shape(expected, shape):
    """Whether an array shape (a tuple) fits a signature's TensorShape.

    Plain comparisons: building a TensorShape per request costs more.
    """
    if expected.rank is None:
        return True
    return len(shape) == expected.rank and all(
        size is None or size == actual
        for size, actual in zip(expected.as_list(), shape, strict=True)
    )


def _join(names):
    return "{" + ",".join(sorted(names)) + "}"
