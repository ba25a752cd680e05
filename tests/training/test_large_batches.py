"""Large batches on small memory: gradient accumulation (every task) and
gradient caching (retrieval), from `TrainConfig` and the command line.

Tolerance of the accumulation check: N batches of B examples averaged by
the optimizer against one batch of N*B, float32: `atol = 1e-6` with SGD;
`1e-4` with AdamW, whose first step divides each gradient entry by its
own magnitude, so an entry near 0 turns rounding into a visible change
(still 1e-3 of the 0.1 learning rate).
"""

import keras
import numpy as np
import pytest

from mmkeras import cli
from mmkeras.data.synthetic_scenes import write_retrieval_dataset
from mmkeras.models import DualEncoder
from mmkeras.training import trainer
from mmkeras.training.trainer import TrainConfig
from mmkeras.training.trainer import train

STEPS = 3
BATCH = 4


def _classifier():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(3),
        ]
    )


@pytest.mark.parametrize(
    "optimizer, atol",
    [(keras.optimizers.SGD, 1e-6), (keras.optimizers.AdamW, 1e-4)],
)
def test_accumulated_steps_equal_one_step_on_their_union(optimizer, atol):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS * BATCH, 5)).astype("float32")
    y = rng.integers(0, 3, STEPS * BATCH)
    weights = {}
    for accumulation, batch in ((STEPS, BATCH), (None, STEPS * BATCH)):
        model = _classifier()
        model.compile(
            optimizer(0.1, gradient_accumulation_steps=accumulation),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        initial = [w.numpy() for w in model.weights]
        for step in range(0, STEPS * BATCH, batch):
            model.train_on_batch(x[step : step + batch], y[step : step + batch])
            updated = step + batch == STEPS * BATCH
            unchanged = all(
                np.array_equal(w.numpy(), i)
                for w, i in zip(model.weights, initial, strict=True)
            )
            assert unchanged != updated  # the weights move on the Nth step
        weights[accumulation] = [w.numpy() for w in model.weights]
    for accumulated, whole in zip(weights[STEPS], weights[None], strict=True):
        np.testing.assert_allclose(accumulated, whole, atol=atol)


def test_gradient_caching_is_refused_for_classification(tmp_path):
    config = TrainConfig(
        manifest=str(tmp_path / "none.jsonl"),
        output_dir=str(tmp_path / "run"),
        task="classify",
        gradient_cache_chunk_size=8,
    )
    with pytest.raises(ValueError, match="task 'retrieve'"):
        train(config)


def test_the_command_line_flags_reach_the_config(monkeypatch):
    received = []

    def fake_train(config):
        received.append(config)
        raise SystemExit(0)

    monkeypatch.setattr(trainer, "train", fake_train)
    with pytest.raises(SystemExit):
        cli.main(
            [
                "train",
                "--manifest=m.jsonl",
                "--output-dir=run",
                "--task=retrieve",
                "--gradient-cache-chunk-size=16",
                "--gradient-accumulation-steps=2",
            ]
        )
    (config,) = received
    assert config.gradient_cache_chunk_size == 16
    assert config.gradient_accumulation_steps == 2


def test_train_builds_and_compiles_for_large_batches(tmp_path, monkeypatch):
    # What `train` builds and compiles; the chunked step itself is tested
    # in tests/models/test_gradient_cache.py (fit, dropout, precision).
    compiled = []

    def stop_at_fit(task, *args, **kwargs):
        compiled.append(task)
        raise StopTraining

    monkeypatch.setattr(DualEncoder, "fit", stop_at_fit)
    manifest = write_retrieval_dataset(
        tmp_path / "scenes",
        num_train_images=4,
        num_validation_images=0,
        num_test_images=0,
    ).manifest_path
    with pytest.raises(StopTraining):
        train(
            TrainConfig(
                manifest=manifest,
                output_dir=str(tmp_path / "run"),
                task="retrieve",
                hidden_dim=8,
                embedding_dim=8,
                image_size=24,
                gradient_cache_chunk_size=5,
                gradient_accumulation_steps=2,
                validate=False,
            )
        )
    (task,) = compiled
    assert task.gradient_cache_chunk_size == 5
    assert task.get_config()["gradient_cache_chunk_size"] == 5
    assert task.optimizer.gradient_accumulation_steps == 2


class StopTraining(Exception):
    pass
