"""Shared checks every mmkeras layer and model gets.

`run_layer_checks(make_layer, inputs, tmp_path, call_kwargs)` runs them all:
config round trip, `.keras` save/load with equal outputs, every precision
policy, and one XLA-compiled fit step that changes the weights.

`inputs` is an array or a dict of arrays. `call_kwargs` values that are
arrays, or dicts of arrays (e.g. `modality_mask`), become model inputs
when a layer is wrapped in a functional model; other values (strings,
numbers, None) are passed through unchanged.
"""

import os

import keras
import numpy as np

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


def assert_all_close(actual, expected, atol=1e-5):
    # Saved models return lists where layers return tuples: compare leaves.
    actual, expected = keras.tree.flatten(actual), keras.tree.flatten(expected)
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_allclose(_float32(a), _float32(e), atol=atol)


def symbolic_inputs(inputs):
    """`keras.Input`s matching a (nested) structure of arrays, named by key."""
    if isinstance(inputs, dict):
        return {k: _symbolic(v, name=k) for k, v in inputs.items()}
    return keras.tree.map_structure(_symbolic, inputs)


def _symbolic(array, name=None):
    array = np.asarray(array)
    return keras.Input(shape=array.shape[1:], dtype=array.dtype, name=name)


def _float32(x):
    return np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(x, "float32")))


def _is_array(value):
    return hasattr(value, "shape") and hasattr(value, "dtype")


def _is_array_dict(value):
    return (
        isinstance(value, dict)
        and bool(value)
        and all(_is_array(v) for v in value.values())
    )


def _model_data(inputs, call_kwargs):
    """A flat dict of every array a wrapped layer needs, keyed by input name.

    `inputs` keep their own keys (or `inputs` for a single array); array
    call kwargs become `{kwarg}` and dicts of arrays `{kwarg}_{key}`.
    """
    data = dict(inputs) if isinstance(inputs, dict) else {"inputs": inputs}
    for kwarg, value in (call_kwargs or {}).items():
        if _is_array_dict(value):
            for key, array in value.items():
                data[f"{kwarg}_{key}"] = array
        elif _is_array(value):
            data[kwarg] = value
    return data


def _rebuild_call(symbolic, inputs, call_kwargs):
    """Splits the flat symbolic dict back into `(inputs, call_kwargs)`."""
    if isinstance(inputs, dict):
        layer_inputs = {k: symbolic[k] for k in inputs}
    else:
        layer_inputs = symbolic["inputs"]
    kwargs = {}
    for kwarg, value in (call_kwargs or {}).items():
        if _is_array_dict(value):
            kwargs[kwarg] = {k: symbolic[f"{kwarg}_{k}"] for k in value}
        elif _is_array(value):
            kwargs[kwarg] = symbolic[kwarg]
        else:
            kwargs[kwarg] = value
    return layer_inputs, kwargs


def wrap_in_model(layer, inputs, call_kwargs=None):
    """A functional model around `layer`, plus the data dict it takes."""
    data = _model_data(inputs, call_kwargs)
    symbolic = symbolic_inputs(data)
    layer_inputs, kwargs = _rebuild_call(symbolic, inputs, call_kwargs)
    model = keras.Model(symbolic, layer(layer_inputs, **kwargs))
    return model, data


def check_config_round_trip(layer):
    """`from_config(get_config())` gives a layer with the same config."""
    config = layer.get_config()
    revived = layer.__class__.from_config(config)
    assert revived.get_config() == config, (
        f"{layer.__class__.__name__} config does not round trip:\n"
        f"{config}\n!=\n{revived.get_config()}"
    )


def check_saved_keras_equal_outputs(layer, inputs, tmp_path, call_kwargs=None):
    """Wraps `layer` in a functional model, saves `.keras`, reloads, and
    checks that the reloaded model reproduces the layer's eager outputs."""
    call_kwargs = call_kwargs or {}
    expected = layer(inputs, **call_kwargs)
    model, data = wrap_in_model(layer, inputs, call_kwargs)
    path = os.path.join(tmp_path, f"{layer.name}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert_all_close(loaded(data), expected)


def _matches(path, float32_outputs):
    return any(entry == path or (entry,) == path for entry in float32_outputs)


def check_precision_policies(
    make_layer, inputs, call_kwargs=None, float32_outputs=()
):
    """For float32, mixed_float16 and mixed_bfloat16: the layer and all its
    sublayers compute in the policy's dtype, trainable weights are in its
    variable dtype, outputs are finite, and float outputs are in the
    compute dtype.

    `float32_outputs` lists the outputs documented as float32 under every
    policy, by their path in the output structure: a tuple index (`1`) or a
    dict key (`"modality_weights"`), or a full path tuple.
    """
    call_kwargs = call_kwargs or {}
    for policy_name in POLICIES:
        layer = make_layer(policy_name)
        policy = keras.dtype_policies.get(policy_name)
        outputs = layer(inputs, **call_kwargs)
        assert layer.compute_dtype == policy.compute_dtype, (
            f"{layer.name} computes in {layer.compute_dtype} under "
            f"{policy_name}."
        )
        # Keras has no public recursive walk over sublayers (a model's
        # `layers` stops at the first level).
        for sublayer in layer._flatten_layers(include_self=False):
            if isinstance(sublayer, keras.layers.InputLayer):
                continue
            assert sublayer.compute_dtype == policy.compute_dtype, (
                f"Sublayer {sublayer.name} of {layer.name} computes in "
                f"{sublayer.compute_dtype} under {policy_name}; pass "
                "dtype=self.dtype_policy when creating it."
            )
        for weight in layer.trainable_weights:
            assert weight.dtype == policy.variable_dtype, (
                f"Weight {weight.path} is {weight.dtype} under {policy_name}."
            )
        for path, value in keras.tree.flatten_with_path(outputs):
            dtype = keras.backend.standardize_dtype(value.dtype)
            assert np.all(np.isfinite(_float32(value))), (
                f"Output {path} is not finite under {policy_name}."
            )
            if "float" not in dtype:
                continue
            expected = (
                "float32"
                if _matches(path, float32_outputs)
                else policy.compute_dtype
            )
            assert dtype == expected, (
                f"Output {path} is {dtype} under {policy_name}, expected "
                f"{expected}."
            )


def check_jit_fit_step(make_layer, inputs, call_kwargs=None):
    """One XLA-compiled fit step of a Dense head on the layer's first float
    output (or its first output cast to float32, if none is float),
    flattened to 2D: the loss is finite and the weights change (the layer's
    own trainable weights, if it has any, and the head's)."""
    layer = make_layer("float32")
    model, data = wrap_in_model(layer, inputs, call_kwargs)
    leaves = keras.tree.flatten(model.outputs)
    floats = [
        x for x in leaves if "float" in keras.backend.standardize_dtype(x.dtype)
    ]
    features = floats[0] if floats else keras.ops.cast(leaves[0], "float32")
    if len(features.shape) == 1:
        features = keras.layers.Reshape((1,))(features)
    elif len(features.shape) > 2:
        features = keras.layers.Flatten()(features)
    head = keras.layers.Dense(1, name="head")
    model = keras.Model(model.inputs, head(features))
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-2),
        loss="mse",
        jit_compile=True,
    )
    batch = len(next(iter(data.values())))
    targets = np.random.default_rng(0).normal(size=(batch, 1))
    before = [np.array(w) for w in layer.trainable_weights]
    head_before = [np.array(w) for w in head.trainable_weights]
    history = model.fit(
        data, targets.astype("float32"), batch_size=batch, epochs=1, verbose=0
    )
    assert np.isfinite(history.history["loss"][0])
    after = [np.array(w) for w in layer.trainable_weights]
    if before:
        assert any(
            not np.array_equal(b, a) for b, a in zip(before, after, strict=True)
        ), f"No trainable weight of {layer.name} changed in a fit step."
    head_after = [np.array(w) for w in head.trainable_weights]
    assert any(
        not np.array_equal(b, a)
        for b, a in zip(head_before, head_after, strict=True)
    )


def run_layer_checks(
    make_layer, inputs, tmp_path, call_kwargs=None, float32_outputs=()
):
    """All of the checks above on fresh layers from `make_layer(dtype)`."""
    layer = make_layer("float32")
    check_saved_keras_equal_outputs(layer, inputs, tmp_path, call_kwargs)
    check_config_round_trip(layer)
    check_precision_policies(make_layer, inputs, call_kwargs, float32_outputs)
    check_jit_fit_step(make_layer, inputs, call_kwargs)


def run_serialization_checks(layer, inputs, tmp_path, call_kwargs=None):
    """Config round trip, then `.keras` save/load with equal outputs."""
    check_saved_keras_equal_outputs(layer, inputs, tmp_path, call_kwargs)
    check_config_round_trip(layer)


def _presence_patterns(num_modalities):
    """Rows of a modality mask: all present, each one missing, none."""
    rows = [[True] * num_modalities]
    if num_modalities > 1:
        for i in range(num_modalities):
            rows.append([j != i for j in range(num_modalities)])
    rows.append([False] * num_modalities)
    return np.array(rows)


def _tile(value, count):
    if isinstance(value, dict):
        return {k: _tile(v, count) for k, v in value.items()}
    if _is_array(value):
        return np.repeat(np.asarray(value), count, axis=0)
    return value


def check_fusion_contract(make_fusion, example, call_kwargs=None):
    """The missing-modality contract every fusion layer shares.

    `example` is a dict of one-example arrays (batch 1). It is repeated
    once per presence pattern (all present, each modality missing alone,
    none present) and the layer from `make_fusion(dtype)` is checked under
    every policy: missing modalities get exactly zero weight; the weights
    of an example sum to 1 over its present modalities; an example with
    none gets exactly zero output and weights; a missing modality's input,
    even near float16's limit, changes nothing; everything is finite.
    Trainable weights are redrawn at random first (biases included), so
    that zero-initialised biases cannot hide an output that is not zero.
    """
    names = sorted(example)
    patterns = _presence_patterns(len(names))
    count = len(patterns)
    inputs = _tile(example, count)
    kwargs = _tile(call_kwargs or {}, count)
    garbage = {}
    for i, name in enumerate(names):
        keep = patterns[:, i].reshape((-1,) + (1,) * (inputs[name].ndim - 1))
        sign = np.where(np.arange(inputs[name].shape[-1]) % 2, -1.0, 1.0)
        # 6e4 is finite in float16 (max 65504), but its projection is not.
        garbage[name] = np.where(keep, inputs[name], 6e4 * sign).astype(
            "float32"
        )
        inputs[name] = np.where(keep, inputs[name], 0.0).astype("float32")
    mask = {name: patterns[:, i] for i, name in enumerate(names)}
    rng = np.random.default_rng(0)
    for policy_name in POLICIES:
        fusion = make_fusion(policy_name)
        fusion(inputs, modality_mask=mask, **kwargs)
        for weight in fusion.trainable_weights:
            weight.assign(rng.normal(scale=0.5, size=weight.shape))
        compute_dtype = keras.dtype_policies.get(policy_name).compute_dtype
        fused, weights = fusion(garbage, modality_mask=mask, **kwargs)
        assert keras.backend.standardize_dtype(fused.dtype) == compute_dtype
        assert keras.backend.standardize_dtype(weights.dtype) == "float32"
        fused, weights = _float32(fused), _float32(weights)
        assert fused.shape == (count, fusion.hidden_dim)
        assert weights.shape == (count, len(names))
        assert np.all(np.isfinite(fused)), f"{policy_name}: {fused}"
        assert np.all(np.isfinite(weights)), f"{policy_name}: {weights}"
        np.testing.assert_array_equal(weights[~patterns], 0.0)
        np.testing.assert_allclose(weights[:-1].sum(axis=1), 1.0, atol=1e-6)
        np.testing.assert_array_equal(fused[-1], 0.0)
        np.testing.assert_array_equal(weights[-1], 0.0)
        clean = fusion(inputs, modality_mask=mask, **kwargs)
        np.testing.assert_array_equal(_float32(clean[0]), fused)
        np.testing.assert_array_equal(_float32(clean[1]), weights)


def raw_examples(modalities, count=4, seed=0):
    """Raw values of `count` examples: PNG/JPEG bytes, captions, 8 kHz WAV
    bytes and clips of 3 encoded frames, as a manifest's files give them.
    """
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    raw = {}
    if "image" in modalities:
        pixels = rng.integers(0, 256, (count, 12, 12, 3), dtype=np.uint8)
        raw["image"] = [tf.io.encode_png(p).numpy() for p in pixels]
    if "text" in modalities:
        words = ["red", "blue", "ball", "box", "hums", "beeps"]
        raw["text"] = [
            " ".join(rng.choice(words, size=3)) for _ in range(count)
        ]
    if "audio" in modalities:
        waves = rng.uniform(-0.5, 0.5, (count, 2400, 1)).astype("float32")
        raw["audio"] = [tf.audio.encode_wav(w, 8000).numpy() for w in waves]
    if "video" in modalities:
        frames = rng.integers(0, 256, (count, 3, 10, 10, 3), dtype=np.uint8)
        raw["video"] = [
            [tf.io.encode_jpeg(f).numpy() for f in clip] for clip in frames
        ]
    return raw


def as_tensors(raw):
    """A batch of raw values as tensors, as a serving signature takes them."""
    import tensorflow as tf

    return {k: tf.constant(v) for k, v in raw.items()}


def run_task_test(task, raw, targets, tmp_path, atol=1e-5):
    """The checks every task gets (keras-hub's `run_task_test`).

    On a batch of raw values and their targets: the preprocessor gives
    model inputs and targets; `compile()` with its defaults trains (the
    loss is finite and the weights change); the one `.keras` file reloads
    the whole task with equal outputs; and the exported SavedModel's
    `serving_default` gives the task's own outputs on the same raw values.

    Returns:
        The exported version directory.
    """
    import tensorflow as tf

    from mmkeras.export import export_task

    tensors = as_tensors(raw)
    features, target_ids = task.preprocessor(
        {**tensors, task.preprocessor.label_field: tf.constant(targets)}
    )
    task.compile()
    before = [np.array(w) for w in task.trainable_weights]
    history = task.fit(features, target_ids, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    after = [np.array(w) for w in task.trainable_weights]
    assert any(
        not np.array_equal(b, a) for b, a in zip(before, after, strict=True)
    )
    expected = task.predict_raw(tensors)

    path = os.path.join(tmp_path, "task.keras")
    task.save(path)
    reloaded = keras.saving.load_model(path)
    assert type(reloaded) is type(task)
    # Saved configs hold lists where live ones hold tuples.
    assert _as_json(reloaded.get_config()) == _as_json(task.get_config())
    for key, value in reloaded.predict_raw(tensors).items():
        _assert_output_equal(value, expected[key], atol)

    export_path = export_task(task, os.path.join(tmp_path, "models"), "task")
    signature = tf.saved_model.load(export_path).signatures["serving_default"]
    for key, value in signature(**tensors).items():
        _assert_output_equal(value, expected[key], atol)
    return export_path


def _as_json(config):
    import json

    return json.loads(json.dumps(config))


def _assert_output_equal(actual, expected, atol):
    actual, expected = np.asarray(actual), np.asarray(expected)
    if actual.dtype.kind in "fc":
        np.testing.assert_allclose(actual, expected, atol=atol)
    else:
        np.testing.assert_array_equal(actual, expected)


def run_mmkeras(*args, timeout=600):
    """Runs the `mmkeras` command line in a subprocess, as a user would."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "mmkeras.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={
            k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"
        },
    )


def succeeded(completed):
    """`completed` (a `run_mmkeras` result), once its exit status is 0."""
    assert completed.returncode == 0, completed.stderr
    return completed
