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
    signature_name, signature, request_inputs, limits=DEFAULT_LIMITS
):
    """Validates and decodes the `inputs` map of a PredictRequest.

    An input the signature gives a default value (SignatureDef.defaults)
    may be left out; the signature feeds its default when it runs.

    Args:
        signature_name: str. Named in error messages.
        signature: SessionSignature | TfliteSignature. Its `input_specs`,
            `feed_names` and `defaults` describe the inputs.
        request_inputs: Mapping[str, TensorProto]. The request's inputs.
        limits: RequestLimits. Size caps checked before decoding.

    Returns:
        dict[str, np.ndarray], one array per input sent, with the
        signature's dtype (strings as object arrays of bytes).

    Raises:
        ServingError: INVALID_ARGUMENT for a tensor that does not fit the
            signature or is malformed, RESOURCE_EXHAUSTED for one above
            the limits.
    """
    _check_input_names(signature, request_inputs)
    validation.check_tensors(request_inputs, limits)
    specs = signature.input_specs
    return {
        alias: _decode_input(signature_name, alias, specs[alias], proto)
        for alias, proto in sorted(request_inputs.items())
    }


def _check_input_names(signature, request_inputs):
    """TensorFlow Serving's checks and messages (predict_util.cc, then
    SavedModel's GetInputValues), in its order."""
    expected = set(signature.input_specs)
    sent = set(request_inputs)
    defaults = set(signature.defaults)
    if len(sent) > len(expected) or (
        len(sent) < len(expected) and not defaults
    ):
        raise errors.invalid_argument(
            f"input size does not match signature: {len(sent)}!="
            f"{len(expected)} len({_join(sent)}) != len({_join(expected)}). "
            f"Sent extra: {_join(sent - expected)}. "
            f"Missing but required: {_join(expected - sent)}."
        )
    missing = sorted(expected - sent - defaults)
    if missing:
        alias = missing[0]
        raise errors.invalid_argument(
            f"Signature input alias: {alias}(feed name: "
            f"{signature.feed_names[alias]}) not found in request and no "
            "default value provided. Inputs expected to be in the request "
            f"{_join(sent)}, or default input alias set: "
            f"{','.join(sorted(defaults))}"
        )
    if sent - expected:
        raise errors.invalid_argument(
            "Inputs contains invalid name. Used request inputs: "
            f"{','.join(sorted(sent & expected))}, request input: "
            f"{','.join(sorted(sent))}"
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
