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


def _with_targets(task, raw, targets):
    features, target_ids = task.preprocessor(
        {**as_tensors(raw), task.preprocessor.label_field: tf.constant(targets)}
    )
    return task, features, target_ids


def _classifier():
    modalities = ["audio", "image", "text", "video"]
    task = multimodal_classifier(
        modalities, ["ball", "box"], vocabulary=_vocabulary(), **SIZES
    )
    targets = ["ball", "box", "box", "ball"]
    return _with_targets(task, raw_examples(modalities), targets)


def _dual_encoder():
    task = dual_encoder(vocabulary=_vocabulary(), embedding_dim=6, **SIZES)
    raw = raw_examples(["image", "text"])
    return _with_targets(task, raw, ["a", "b", "c", "d"])


def _speech_recognizer():
    from tests.models.test_speech_recognizer import TRANSCRIPTS
    from tests.models.test_speech_recognizer import _raw
    from tests.models.test_speech_recognizer import _task

    task = _task()
    features, targets = task.preprocessor(
        {
            "audio": tf.constant(_raw(TRANSCRIPTS)["audio"]),
            "transcript": tf.constant(TRANSCRIPTS),
        }
    )
    return task, features, targets


def _video_summarizer():
    from tests.models.test_video_summarizer import NUM_FRAMES
    from tests.models.test_video_summarizer import _clip
    from tests.models.test_video_summarizer import _task

    task = _task()
    clips = tf.constant([_clip(seed=seed) for seed in range(3)])
    features = dict(task.preprocessor({"video": clips}))
    scores = np.random.default_rng(0).uniform(size=(3, NUM_FRAMES))
    return task, features, {"frame_scores": scores.astype("float32")}


@pytest.mark.slow
@pytest.mark.parametrize(
    "build",
    [_classifier, _dual_encoder, _speech_recognizer, _video_summarizer],
)
def test_the_training_step_compiles_under_xla(build):
    task, features, target_ids = build()
    task.compile(jit_compile=False)
    plain = task.evaluate(features, target_ids, verbose=0, return_dict=True)
    task.compile(jit_compile=True)
    # Keras silently turns XLA off when a layer of the model (even one
    # only tf.data runs) says it does not support it.
    assert task.jit_compile is True
    compiled = task.evaluate(features, target_ids, verbose=0, return_dict=True)
    np.testing.assert_allclose(compiled["loss"], plain["loss"], rtol=1e-4)
    logs = task.train_on_batch(features, target_ids, return_dict=True)
    assert np.isfinite(logs["loss"])
