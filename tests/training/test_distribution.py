"""Strategies, TF_CONFIG, who writes, input sharding, the tf.data service,
and two worker processes training together on loopback ports."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from mmkeras.data import synthetic
from mmkeras.training import TrainConfig
from mmkeras.training import train
from mmkeras.training.distribution import Distribution
from mmkeras.training.distribution import WorkerBackupAndRestore
from mmkeras.training.distribution import cluster_size
from mmkeras.training.distribution import data_service_dispatcher
from mmkeras.training.distribution import data_service_worker
from mmkeras.training.distribution import is_chief_task
from mmkeras.training.distribution import resolve_strategy
from mmkeras.training.distribution import serve_input
from tests.training.workers import environment
from tests.training.workers import free_ports
from tests.training.workers import run_workers
from tests.training.workers import tf_config


def test_cluster_size_counts_chief_and_workers():
    assert cluster_size(tf_config(["a:1", "b:1"], 0, chief=["c:1"])) == 3
    assert cluster_size(tf_config(["a:1"], 0)) == 1
    assert cluster_size("") == 0


def test_the_chief_is_the_chief_task_else_worker_zero():
    assert is_chief_task(tf_config(["a:1", "b:1"], 0))
    assert not is_chief_task(tf_config(["a:1", "b:1"], 1))
    assert is_chief_task(tf_config(["a:1"], 0, "chief", chief=["c:1"]))
    assert not is_chief_task(tf_config(["a:1"], 0, chief=["c:1"]))
    assert is_chief_task("")


def test_a_tf_config_that_is_not_json_is_named():
    with pytest.raises(ValueError, match="TF_CONFIG is not JSON"):
        cluster_size("{cluster: ")


def test_auto_without_a_cluster_is_the_default_strategy(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    distribution = resolve_strategy("auto")
    assert distribution.strategy is tf.distribute.get_strategy()
    assert (distribution.num_workers, distribution.is_chief) == (1, True)
    assert distribution.global_batch_size(8) == 8


def test_unknown_strategies_and_non_training_tasks_are_refused(monkeypatch):
    with pytest.raises(ValueError, match="strategy must be one of"):
        resolve_strategy("tpu")
    monkeypatch.setenv("TF_CONFIG", tf_config(["a:1", "b:1"], 0, "evaluator"))
    with pytest.raises(ValueError, match="'evaluator'"):
        resolve_strategy("auto")


def test_several_workers_multiply_the_batch_and_shard_by_data():
    dataset = tf.data.Dataset.range(8).batch(4)
    workers = Distribution(tf.distribute.get_strategy(), num_workers=3)
    assert workers.global_batch_size(4) == 12
    policy = workers.shard(dataset).options().experimental_distribute
    assert policy.auto_shard_policy == tf.data.experimental.AutoShardPolicy.DATA
    alone = Distribution(tf.distribute.get_strategy())
    assert alone.shard(dataset) is dataset


def test_the_data_service_address_is_checked():
    with pytest.raises(ValueError, match="grpc://host:port"):
        serve_input(tf.data.Dataset.range(2), "localhost:5050")


def _tiny_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    return model


class _StopAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("interrupted")


class _BackupFiles(keras.callbacks.Callback):
    """What the backup callback before it wrote, at every epoch's end."""

    def __init__(self, backup):
        super().__init__()
        self.backup = backup
        self.seen = []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(
            (self.backup.backup_dir, sorted(os.listdir(self.backup.backup_dir)))
        )


def test_a_worker_restores_from_the_shared_backup_and_writes_elsewhere(
    tmp_path,
):
    x, y = np.ones((4, 2), "float32"), np.zeros((4, 1), "float32")
    shared = str(tmp_path / "backup")
    chief = WorkerBackupAndRestore(shared, is_chief=True)
    with pytest.raises(RuntimeError, match="interrupted"):
        _tiny_model().fit(
            x, y, epochs=3, verbose=0, callbacks=[chief, _StopAt(2)]
        )
    written = {
        name: (tmp_path / "backup" / name).read_bytes()
        for name in (os.listdir(shared))
    }
    assert "latest.weights.npz" in written

    worker = WorkerBackupAndRestore(shared, is_chief=False)
    files = _BackupFiles(worker)
    history = _tiny_model().fit(
        x, y, epochs=3, verbose=0, callbacks=[worker, files]
    )
    assert len(history.history["loss"]) == 1  # resumed at epoch 2 of 3
    ((directory, names),) = files.seen
    assert directory != shared and "latest.weights.npz" in names
    assert not os.path.exists(directory)  # deleted at the end
    for name, data in written.items():  # the shared backup is the chief's
        assert (tmp_path / "backup" / name).read_bytes() == data


@pytest.fixture(scope="module")
def demo_manifest(tmp_path_factory):
    # What `mmkeras make-demo-data D --examples 40` writes.
    return synthetic.write_dataset(
        tmp_path_factory.mktemp("demo"), num_examples=40
    )


def _tiny_config(manifest, output_dir, **overrides):
    values = dict(
        manifest=str(manifest),
        output_dir=str(output_dir),
        modalities=["image"],
        epochs=2,
        hidden_dim=8,
        image_size=16,
        # No randomness in the step, so that the runs can be compared.
        dropout=0.0,
        modality_dropout=0.0,
        augment=False,
        deterministic=True,
        # float32 whatever "auto" picks: batches of 4 and of 8 round
        # differently in bfloat16 (2e-4 apart in the loss), and the
        # comparison is of the arithmetic of the distribution.
        precision="float32",
        verbose=2,
    )
    values.update(overrides)
    return values


@pytest.mark.slow
def test_two_workers_train_like_one_process_with_their_global_batch(
    demo_manifest, tmp_path
):
    """Two workers of batch 4 against one process of batch 8.

    22 training images: steps of 8 (each worker trains on its half), 8
    and 6 (3 + 3), so the gradients are the same averages and the loss
    curves agree to float rounding (rtol 1e-4; measured: identical
    training losses, validation losses 1e-7 apart).
    """
    ports = free_ports(2)
    workers = [f"localhost:{port}" for port in ports]
    runs = [
        (
            # Separate output directories, to see who writes what (a
            # real cluster shares one).
            _tiny_config(demo_manifest, tmp_path / f"out{i}", batch_size=4),
            tmp_path / f"worker{i}.npz",
            environment(tf_config(workers, i), tmp_path / f"tmp{i}"),
        )
        for i in range(2)
    ]
    chief, other = run_workers(runs)
    (single,) = run_workers(
        [
            (
                _tiny_config(demo_manifest, tmp_path / "single", batch_size=8),
                tmp_path / "single.npz",
                environment(),
            )
        ]
    )

    for mine, theirs in zip(chief[2], other[2], strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert chief[1] == other[1] == single[1] == 6  # 2 epochs x 3 steps
    for name in ("loss", "val_loss"):
        np.testing.assert_allclose(chief[0][name], single[0][name], rtol=1e-4)
    for mine, reference in zip(chief[2], single[2], strict=True):
        np.testing.assert_allclose(mine, reference, atol=1e-5)
    # The chief wrote a whole run's files, as one process would.
    assert sorted(os.listdir(tmp_path / "out0")) == sorted(
        os.listdir(tmp_path / "single")
    )
    assert {"config.json", "task.keras", "history.csv", "logs"} <= set(
        os.listdir(tmp_path / "out0")
    )
    assert not os.path.exists(tmp_path / "out1")
    # The other worker's backup went to a temporary directory, since gone.
    assert not [n for n in os.listdir(tmp_path / "tmp1") if "backup" in n]


@pytest.fixture
def data_service():
    """An in-process tf.data service: a dispatcher and one worker."""
    dispatcher = data_service_dispatcher()
    worker = data_service_worker(dispatcher.target)
    yield dispatcher.target
    worker.stop()
    dispatcher.stop()


@pytest.mark.slow
def test_training_through_the_data_service_takes_the_same_steps(
    demo_manifest, tmp_path, data_service
):
    base = _tiny_config(
        demo_manifest, tmp_path, modalities=("image", "text"), verbose=0
    )
    base.update(deterministic=False, batch_size=4)
    served = train(
        TrainConfig(
            **dict(
                base,
                output_dir=str(tmp_path / "served"),
                data_service=data_service,
            )
        )
    )
    plain = train(TrainConfig(**dict(base, output_dir=str(tmp_path / "plain"))))
    steps = int(served.task.optimizer.iterations.numpy())
    assert steps == int(plain.task.optimizer.iterations.numpy()) == 2 * 7
    assert len(served.history["loss"]) == 2
    assert np.all(np.isfinite(served.history["loss"]))


@pytest.mark.slow
def test_two_workers_share_one_data_service_job(
    demo_manifest, tmp_path, data_service
):
    workers = [f"localhost:{port}" for port in free_ports(2)]
    config = _tiny_config(
        demo_manifest, tmp_path / "out", batch_size=4, data_service=data_service
    )
    runs = [
        (
            config,
            tmp_path / f"worker{i}.npz",
            environment(tf_config(workers, i)),
        )
        for i in range(2)
    ]
    chief, other = run_workers(runs)
    for mine, theirs in zip(chief[2], other[2], strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert chief[1] == other[1] == 6  # as without the service
    assert {"config.json", "task.keras"} <= set(os.listdir(tmp_path / "out"))
