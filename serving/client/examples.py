"""tf.Examples from plain Python values, for Classify and Regress.

Each example is a dict mapping a feature name to a value or a list (or
array) of values; the values' type picks the feature's kind: bytes and str
(UTF-8 encoded) make a bytes_list, bool and integers an int64_list, floats
a float_list. A tf.train.Example is passed through unchanged.
"""

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import input_pb2


def to_input(examples, context=None):
    """Builds an `Input` proto; with `context`, an example list with context.

    Args:
        examples: list of dict | tf.train.Example.
        context: dict | tf.train.Example | None. Features shared by all
            examples (the server prepends them to each).

    Raises:
        TypeError: for a value of a type no feature kind holds.
    """
    input_proto = input_pb2.Input()
    if context is None:
        target = input_proto.example_list.examples
    else:
        with_context = input_proto.example_list_with_context
        with_context.context.CopyFrom(to_example(context))
        target = with_context.examples
    for example in examples:
        target.add().CopyFrom(to_example(example))
    return input_proto


def to_example(features):
    """Converts a dict of feature values to a tf.train.Example."""
    if isinstance(features, tf.train.Example):
        return features
    example = tf.train.Example()
    for name, value in features.items():
        _fill_feature(example.features.feature[name], name, value)
    return example


def _fill_feature(feature, name, value):
    values = np.asarray(value, dtype=object if _is_text(value) else None)
    flat = values.reshape(-1).tolist()
    if values.dtype.kind in "OSU":
        encoded = [v.encode("utf-8") if isinstance(v, str) else v for v in flat]
        if not all(isinstance(v, bytes) for v in encoded):
            raise TypeError(
                f"Feature {name!r} mixes text with other values: {value!r}. "
                "Pass bytes/str, integers or floats, one kind per feature."
            )
        feature.bytes_list.value.extend(encoded)
    elif values.dtype.kind in "biu":
        feature.int64_list.value.extend(int(v) for v in flat)
    elif values.dtype.kind == "f":
        feature.float_list.value.extend(flat)
    else:
        raise TypeError(
            f"Feature {name!r} has values of type {values.dtype} "
            f"({value!r}); pass bytes/str, integers or floats."
        )


def _is_text(value):
    if isinstance(value, bytes | str):
        return True
    return isinstance(value, list | tuple) and any(
        isinstance(v, bytes | str) for v in value
    )
