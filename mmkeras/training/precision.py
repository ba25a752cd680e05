"""Choosing the dtype policy: mixed precision only where it pays."""

import tensorflow as tf

POLICIES = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


def resolve_precision(precision="auto"):
    """Returns a Keras dtype policy name.

    "auto" picks mixed_float16 on a GPU (tensor cores make it ~2x faster)
    and float32 on CPU, where float16 math is emulated and slower.
    """
    if precision not in POLICIES:
        raise ValueError(
            f"precision must be one of {POLICIES}, received {precision!r}."
        )
    if precision != "auto":
        return precision
    if tf.config.list_physical_devices("GPU"):
        return "mixed_float16"
    return "float32"
