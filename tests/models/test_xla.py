"""Every shipped task's training step compiles under XLA.

`jit_compile="on"` must work for any task a user trains, so each task is
checked here on tiny shapes: the XLA-compiled evaluation gives the loss
of the plain one on the same weights, and a compiled training step gives
a finite loss.
"""

import numpy as np
import pytest
import tensorflow as tf

from mmkeras.models import dual_encoder
from mmkeras.models import multimodal_classifier
from mmkeras.preprocessing import learn_vocabulary
from tests.test_case import as_tensors
from tests.test_case import raw_examples

SIZES = dict(
    hidden_dim=8,
    image_size=8,
    sequence_length=6,
    clip_seconds=0.3,
    num_frames=2,
)


def _vocabulary():
    return learn_vocabulary(raw_examples(["text"], 8)["text"])


def _classifier():
    modalities = ["audio", "image", "text", "video"]
    task = multimodal_classifier(
        modalities, ["ball", "box"], vocabulary=_vocabulary(), **SIZES
    )
    return task, raw_examples(modalities), ["ball", "box", "box", "ball"]


def _dual_encoder():
    task = dual_encoder(vocabulary=_vocabulary(), embedding_dim=6, **SIZES)
    return task, raw_examples(["image", "text"]), ["a", "b", "c", "d"]


@pytest.mark.slow
@pytest.mark.parametrize("build", [_classifier, _dual_encoder])
def test_the_training_step_compiles_under_xla(build):
    task, raw, targets = build()
    features, target_ids = task.preprocessor(
        {**as_tensors(raw), task.preprocessor.label_field: tf.constant(targets)}
    )
    task.compile(jit_compile=False)
    plain = task.evaluate(features, target_ids, verbose=0, return_dict=True)
    task.compile(jit_compile=True)
    compiled = task.evaluate(features, target_ids, verbose=0, return_dict=True)
    np.testing.assert_allclose(compiled["loss"], plain["loss"], rtol=1e-4)
    logs = task.train_on_batch(features, target_ids, return_dict=True)
    assert np.isfinite(logs["loss"])
