"""scripts/bench_train.py's parts that need no keras-hub: the FLOP count,
the reference mmkeras model, and the hint when keras-hub is missing."""

import importlib.util
import pathlib

import keras
import numpy as np
import tensorflow as tf

from mmkeras.training import train_bench

SCRIPT = pathlib.Path(__file__).parent.parent / "scripts" / "bench_train.py"


def test_flops_of_a_dense_layer_are_counted_by_hand():
    dense = keras.layers.Dense(8)
    x = tf.ones((4, 16))
    dense.build(x.shape)

    @tf.function
    def forward(x):
        return dense(x)

    counted = train_bench.graph_flops(forward.get_concrete_function(x).graph)
    # (4, 16) @ (16, 8): 4 * 8 outputs of 16 multiply-adds each.
    assert counted["by_type"]["MatMul"] == 2 * 4 * 16 * 8
    assert counted["tf_matmul"] == 2 * 4 * 16 * 8  # TensorFlow agrees
    assert counted["by_type"]["BiasAdd"] == 4 * 8

    @tf.function
    def kernel_gradient(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(dense(x))
        return loss, tape.gradient(loss, dense.kernel)

    counted = train_bench.graph_flops(
        kernel_gradient.get_concrete_function(x).graph
    )
    # Forward and x^T @ dy; the gradient for x is pruned, not counted.
    assert counted["by_type"]["MatMul"] == 2 * (2 * 4 * 16 * 8)


def test_einsum_flops_are_counted_from_the_equation():
    a, b = tf.ones((2, 3, 4)), tf.ones((2, 4, 5))
    graph = (
        tf.function(lambda a, b: tf.einsum("bij,bjk->bik", a, b))
        .get_concrete_function(a, b)
        .graph
    )
    assert (
        train_bench.graph_flops(graph)["by_type"]["Einsum"] == 2 * 2 * 3 * 4 * 5
    )


def test_the_mmkeras_reference_model_has_the_stated_sizes():
    ref = train_bench.REFERENCE
    model = train_bench.build_mmkeras(ref)
    assert model.count_params() == train_bench.reference_parameter_count(ref)
    assert model.count_params() == 991_618
    image, text = model.encoders["image"], model.encoders["text"]
    assert (image.patch_size, image.hidden_dim) == (8, 128)
    assert image.input.shape[1:] == (64, 64, 3)
    assert (image.num_layers, image.num_heads) == (2, 4)
    assert (text.vocabulary_size, text.sequence_length) == (1000, 32)
    assert (text.hidden_dim, text.num_layers, text.num_heads) == (128, 2, 4)
    assert text.intermediate_dim == 512
    batch = train_bench.random_batches(ref, 2, count=1)
    outputs = model({k: v[0] for k, v in batch.items()})
    assert outputs["image_embeddings"].shape == (2, 128)
    assert outputs["text_embeddings"].shape == (2, 128)


def test_a_training_step_of_the_quick_model_is_mostly_matmuls():
    ref = train_bench.QUICK
    model = train_bench.compile_for_training(train_bench.build_mmkeras(ref))
    batches = train_bench.random_batches(ref, 4, count=1)
    model.optimizer.build(model.trainable_variables)
    counted = train_bench.train_step_flops(
        model, {k: tf.constant(v[0]) for k, v in batches.items()}
    )
    assert counted["by_type"]["MatMul"] == counted["tf_matmul"] > 0
    assert 0.5 < counted["contractions"] / counted["total"] < 1
    assert np.isfinite(counted["total"])


def test_the_script_asks_for_keras_hub_when_it_is_missing(monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("bench_train", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "keras_hub" else find_spec(name, *a),
    )
    assert script.main([]) == 2
    (line,) = capsys.readouterr().out.splitlines()
    assert "pip install -e .[bench]" in line
