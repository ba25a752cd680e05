"""Each task's loss is a replica's share under tf.distribute.

The replicas' gradients are summed, so Keras divides a compiled loss by
their number; a task that computes its own loss must do the same, or N
replicas train with N times the gradient and report N times the loss.
"""

import subprocess
import sys

# Two logical CPUs must be made before TensorFlow starts: a new process.
SCRIPT = """
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)

from mmkeras.encoders.audio_encoder import AudioEncoder
from mmkeras.models import SpeechRecognizer
from mmkeras.models import video_summarizer

video = video_summarizer(hidden_dim=8, image_size=16, num_frames=4)
video.rank_loss_weight = 0.5
speech = SpeechRecognizer(AudioEncoder(8000, 16), ["a", "b"])
cases = {
    "video_summarizer": (
        video,
        {"frame_mask": tf.constant([[True, True, True, False]])},
        {"frame_scores": tf.constant([[0.9, 0.1, 0.5, 0.0]])},
        {"frame_scores": tf.constant([[0.2, 0.4, 0.3, 0.0]])},
    ),
    "speech_recognizer": (
        speech,
        None,
        {"labels": tf.constant([[1, 2]]), "label_lengths": tf.constant([2])},
        {
            "logits": tf.constant(
                np.random.default_rng(0).normal(size=(1, 6, 3)), tf.float32
            ),
            "logit_lengths": tf.constant([6]),
        },
    ),
}
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
for name, (task, x, y, y_pred) in cases.items():
    alone = float(task.compute_loss(x, y, y_pred))
    shares = strategy.run(lambda: task.compute_loss(x, y, y_pred))
    for share in strategy.experimental_local_results(shares):
        print(name, alone, float(share))
"""


def test_a_replica_computes_its_share_of_each_tasks_loss():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line.split() for line in result.stdout.splitlines()]
    assert sorted({row[0] for row in rows}) == [
        "speech_recognizer",
        "video_summarizer",
    ]
    for name, alone, share in rows:
        assert float(alone) > 0, name
        assert abs(float(share) - float(alone) / 2) < 1e-6, name
