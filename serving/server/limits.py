"""Bounds on what one request may ask the server to allocate.

A TensorProto is small on the wire but can claim a huge shape: a single
`float_val` broadcasts to every element, so `shape [2**40]` with one value
would make the decoder allocate terabytes. These limits are checked before
anything is decoded, so a request costs at most about `max_decoded_bytes`.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class RequestLimits:
    """Per-request caps applied to Predict, Classify, Regress, MultiInference.

    Exceeding a size cap is RESOURCE_EXHAUSTED; a shape or length that does
    not add up is INVALID_ARGUMENT.

    Args:
        max_request_bytes: int. Serialized size of the whole request.
        max_decoded_bytes: int. Memory the decoded inputs may take, summed
            over all inputs (strings count their bytes plus a per-element
            overhead, see `STRING_ELEMENT_OVERHEAD`).
        max_tensor_elements: int. Elements in one input tensor.
        max_string_elements: int. Elements in one string tensor, and
            tf.Examples in one Classify/Regress/MultiInference input.
        max_rank: int. Dimensions of one input tensor.
        max_dimension: int. Size of any one dimension; kept in int32 range
            because some kernels index with 32-bit integers.

    Example:

    ```python
    PredictionService(manager, limits=RequestLimits(max_rank=8))
    ```
    """

    max_request_bytes: int = 1 << 30
    max_decoded_bytes: int = 1 << 30
    max_tensor_elements: int = 1 << 28
    max_string_elements: int = 1 << 24
    max_rank: int = 32
    max_dimension: int = (1 << 31) - 1

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"RequestLimits.{field.name} must be a positive int, "
                    f"got {value!r}."
                )


# A decoded string element costs a Python object and a tf.string header on
# top of its bytes; counting them stops a broadcast "" from being free.
STRING_ELEMENT_OVERHEAD = 64

DEFAULT_LIMITS = RequestLimits()
