"""The Keras multi-worker patch: what it replaces, when, and that Keras
still needs it (keras-team/keras#20585)."""

import logging
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras.src.backend.tensorflow import trainer as keras_trainer

from mmkeras.training import keras_compat
from tests.training.workers import environment
from tests.training.workers import free_ports
from tests.training.workers import tf_config


@pytest.fixture
def patched():
    keras_compat.restore()
    originals = (
        keras_trainer.TensorFlowTrainer._maybe_symbolic_build,
        keras_trainer.reduce_per_replica,
    )
    yield originals
    keras_compat.restore()


def test_apply_replaces_two_functions_and_restore_puts_them_back(patched):
    assert keras_compat.apply() and keras_compat.apply()  # idempotent
    replaced = (
        keras_trainer.TensorFlowTrainer._maybe_symbolic_build,
        keras_trainer.reduce_per_replica,
    )
    assert not set(replaced) & set(patched)
    keras_compat.restore()
    assert (
        keras_trainer.TensorFlowTrainer._maybe_symbolic_build,
        keras_trainer.reduce_per_replica,
    ) == patched


def test_an_unverified_keras_is_left_alone_with_a_warning(
    patched, monkeypatch, caplog
):
    monkeypatch.setattr(keras, "__version__", "3.99.0")
    with caplog.at_level(logging.WARNING):
        assert not keras_compat.apply()
    assert "3.99.0 was not verified" in caplog.text
    assert "keras-team/keras/issues/20585" in caplog.text
    assert keras_trainer.reduce_per_replica is patched[1]
    assert keras_compat.is_verified("3.15.1")


def _fit_under_default_strategy():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("adam", "mse", metrics=["mae"])
    x = np.arange(24, dtype="float32").reshape(8, 3)
    history = model.fit(x, x[:, :2], batch_size=4, epochs=2, verbose=0)
    return history.history, model.get_weights()


def test_without_several_workers_keras_runs_its_own_code(patched):
    before = _fit_under_default_strategy()
    keras_compat.apply()
    after = _fit_under_default_strategy()
    assert before[0] == after[0]
    for old, new in zip(before[1], after[1], strict=True):
        np.testing.assert_array_equal(old, new)


# Keras' own multi-worker fit, on a tiny model, with none or part of the
# patch: it must still fail as the docstring of `keras_compat` says.
CANARY = """
import numpy as np
import tensorflow as tf
import keras
from mmkeras.training import keras_compat

strategy = tf.distribute.MultiWorkerMirroredStrategy()
if {build_fix}:
    keras_compat.apply()
    keras_compat._keras_trainer().reduce_per_replica = (
        keras_compat._originals["reduce"]
    )
x = np.ones((16, 2), "float32")
with strategy.scope():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
model.fit(tf.data.Dataset.from_tensor_slices((x, x[:, :1])).batch(4),
          epochs=1, verbose=0)
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "build_fix, error",
    [
        (False, "Attempt to convert a value (PerReplica"),
        (True, "Invalid reduction dimension 0 for input with 0 dimensions"),
    ],
    ids=["unpatched", "build-fix-only"],
)
def test_keras_still_fails_without_the_patch(build_fix, error):
    """If this fails, Keras may have fixed keras-team/keras#20585: check
    the new version and drop (part of) `keras_compat`."""
    workers = [f"localhost:{port}" for port in free_ports(2)]
    code = CANARY.format(build_fix=build_fix)
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=environment(tf_config(workers, i)),
        )
        for i in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=180)[0] for p in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert processes[0].returncode != 0, outputs[0][-2000:]
    assert error in outputs[0], outputs[0][-2000:]
