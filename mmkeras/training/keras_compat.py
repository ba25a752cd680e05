"""Makes Keras 3.15's `model.fit` work under `MultiWorkerMirroredStrategy`.

Keras 3 (TensorFlow backend) fails to train with
`tf.distribute.MultiWorkerMirroredStrategy` across several workers, an
open upstream bug: https://github.com/keras-team/keras/issues/20585 (also
https://github.com/tensorflow/tensorflow/issues/72388). Two functions
of `keras/src/backend/tensorflow/trainer.py` cause it. `apply()` replaces
both: the method on the `TensorFlowTrainer` class, and the module's
`reduce_per_replica` (looked up when `fit` traces its step function).
Each replacement runs Keras' own function unless the strategy is a
multi-worker collective one (by Keras' own test for that,
`_collective_all_reduce_multi_worker`), so every other strategy and every
single-worker run is as before:

1. `TensorFlowTrainer._maybe_symbolic_build` (run by `fit` and
   `evaluate` under any strategy) builds the model, metrics and loss
   from a real batch: it opens a new iterator on the distributed dataset,
   takes a batch and averages it over the replicas with
   `strategy.reduce("MEAN", batch, axis=None)`. Across workers that
   reduce is an eager collective over the data itself, and it fails
   (`ValueError: Attempt to convert a value (PerReplica:...) ... to a
   Tensor`). The build reads only shapes and dtypes, so the patch builds
   from the dataset's `element_spec` instead (`_symbolic_build` accepts
   it as its `data_batch`): no data is read, no collective runs, and no
   extra iterator advances a seeded shuffle, so a multi-worker run sees
   the same examples in the same order as one process would.
2. `reduce_per_replica(..., reduction="auto" | "mean")`, which combines
   the per-replica logs (metric results, all scalars) after each step,
   calls `strategy.reduce("MEAN", value, axis=0)` in multi-worker mode.
   For a scalar that fails (`Invalid reduction dimension 0 for input with
   0 dimensions`), and for a tensor it would also average along its first
   axis. The single-machine branch of the same function takes the
   element-wise mean over replicas (`tf.reduce_mean(local_results,
   axis=0)` stacks replicas on axis 0); the patch does that across
   workers: `strategy.reduce("MEAN", value, axis=None)`.

Nothing else changes: gradients, optimizer updates and metric variables
are synchronised by `tf.distribute` as before, and the epoch logs Keras
reads from the (sync-on-read) metric variables are already global.

`apply()` is called by `mmkeras.training` only when it trains with a
multi-worker strategy. It patches only the Keras versions this was
verified on (`VERIFIED_VERSIONS`); on another version it warns and
changes nothing, so that a Keras release that fixes (or moves) this code
is not patched blindly. `restore()` undoes it.
"""

import logging

import keras

logger = logging.getLogger(__name__)

ISSUE = "https://github.com/keras-team/keras/issues/20585"
# Keras versions whose TensorFlow trainer this patch was checked against.
VERIFIED_VERSIONS = ("3.15.",)

_originals = {}


def is_verified(version=None):
    """Whether the patch is known to fit this Keras `version`."""
    version = keras.__version__ if version is None else version
    return version.startswith(VERIFIED_VERSIONS)


def apply():
    """Installs the two multi-worker fixes; idempotent.

    Returns:
        True when the fixes are in place, False when this Keras version
        was not verified (a warning says so, and nothing is patched).
    """
    if _originals:
        return True
    if not is_verified():
        logger.warning(
            "Keras %s was not verified with mmkeras' multi-worker fixes "
            "(verified: %s); training with MultiWorkerMirroredStrategy runs "
            "on Keras' own code, which fails on 3.15 (%s).",
            keras.__version__,
            ", ".join(v + "x" for v in VERIFIED_VERSIONS),
            ISSUE,
        )
        return False
    trainer = _keras_trainer()
    _originals["build"] = trainer.TensorFlowTrainer._maybe_symbolic_build
    _originals["reduce"] = trainer.reduce_per_replica
    trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    trainer.reduce_per_replica = _reduce_per_replica
    return True


def restore():
    """Puts Keras' own functions back."""
    if not _originals:
        return
    trainer = _keras_trainer()
    trainer.TensorFlowTrainer._maybe_symbolic_build = _originals.pop("build")
    trainer.reduce_per_replica = _originals.pop("reduce")


def is_multi_worker(strategy):
    """Whether `strategy` all-reduces across several workers: Keras' own
    test for the branch it gets wrong."""
    return _keras_trainer()._collective_all_reduce_multi_worker(strategy)


def _keras_trainer():
    """The module patched (imported only here: it is Keras' private code,
    which other versions may move)."""
    from keras.src.backend.tensorflow import trainer

    return trainer


def _maybe_symbolic_build(self, iterator=None, data_batch=None):
    strategy = self._distribute_strategy  # None: Keras builds nothing here
    if iterator is None or strategy is None or not is_multi_worker(strategy):
        return _originals["build"](self, iterator, data_batch)
    dataset = iterator.data_adapter.get_tf_dataset()
    with strategy.scope():
        self._symbolic_build(data_batch=dataset.element_spec)


def _reduce_per_replica(values, strategy, reduction):
    if reduction in ("auto", "mean") and is_multi_worker(strategy):
        return keras.tree.map_structure(
            lambda value: strategy.reduce("MEAN", value, axis=None), values
        )
    return _originals["reduce"](values, strategy, reduction)
