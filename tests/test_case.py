"""Shared checks every mmkeras layer and model gets."""

import os

import keras
import numpy as np


def assert_all_close(actual, expected, atol=1e-5):
    # Saved models return lists where layers return tuples: compare leaves.
    actual, expected = keras.tree.flatten(actual), keras.tree.flatten(expected)
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(
            np.asarray(a, "float32"), np.asarray(e, "float32"), atol=atol
        )


def symbolic_inputs(inputs):
    """`keras.Input`s matching a (nested) structure of arrays, named by key."""
    if isinstance(inputs, dict):
        return {k: _symbolic(v, name=k) for k, v in inputs.items()}
    return keras.tree.map_structure(_symbolic, inputs)


def _symbolic(array, name=None):
    array = np.asarray(array)
    return keras.Input(shape=array.shape[1:], dtype=array.dtype, name=name)


def run_serialization_checks(layer, inputs, tmp_path, call_kwargs=None):
    """Config round trip, then `.keras` save/load with equal outputs."""
    call_kwargs = call_kwargs or {}
    expected = layer(inputs, **call_kwargs)

    config = layer.get_config()
    revived = layer.__class__.from_config(config)
    assert revived.get_config() == config

    # Wrap in a functional model so that the saved file holds the weights.
    model_inputs = symbolic_inputs(inputs)
    model = keras.Model(model_inputs, layer(model_inputs, **call_kwargs))
    path = os.path.join(tmp_path, "layer.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert_all_close(loaded(inputs), expected)
