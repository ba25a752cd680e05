import keras
import numpy as np
import pytest
import tensorflow as tf

from mmkeras.export import tflite
from mmkeras.losses import frame_rank_loss
from mmkeras.models import keyshots
from mmkeras.models.video_summarizer import video_summarizer
from mmkeras.preprocessing.video_summary_preprocessor import frame_targets

VOCABULARY = ["[PAD]", "[UNK]", "a", "red", "blue", "circle", "appears"]
NUM_FRAMES = 8


def _task():
    keras.utils.set_random_seed(0)
    return video_summarizer(
        VOCABULARY,
        hidden_dim=8,
        image_size=16,
        sequence_length=6,
        num_frames=NUM_FRAMES,
        rank_loss_weight=0.5,
    )


def _clip(lengths=(5, 7), size=16, seed=0):
    """Encoded PNG frames of shots of one colour each, with noise."""
    rng = np.random.default_rng(seed)
    frames = []
    for length in lengths:
        colour = rng.integers(0, 256, 3)
        for _ in range(length):
            pixels = colour + rng.normal(0, 8, (size, size, 3))
            pixels = np.clip(pixels, 0, 255).astype(np.uint8)
            frames.append(tf.io.encode_png(pixels).numpy())
    return frames


@pytest.fixture(scope="module")
def task():
    return _task()


@pytest.fixture(scope="module")
def served(task):
    """The serving signatures as graphs (tf.functions); the written
    SavedModel is served over gRPC in test_video_summary_end_to_end."""
    return task.serving_signatures()


def test_frame_targets_average_the_frames_each_sampled_frame_covers():
    importance = tf.constant([0.0, 0.0, 1.0, 1.0, 0.5, 0.5])
    mask = tf.constant([True, True, True, False])
    expected = [0.0, 1.0, 0.5, 0.0]
    assert frame_targets(importance, mask).numpy().tolist() == expected
    mapped = tf.data.Dataset.from_tensors((importance, mask)).map(frame_targets)
    assert next(iter(mapped)).numpy().tolist() == expected
    # Fewer annotated frames than sampled ones: each covers at least one.
    coarse = frame_targets(tf.constant([0.2, 0.8]), tf.ones([4], bool))
    np.testing.assert_allclose(coarse.numpy(), [0.2, 0.2, 0.8, 0.8])
    assert keyshots.position_means([0.2, 0.8], 4).tolist() == [
        0.2,
        0.2,
        0.8,
        0.8,
    ]


def test_the_rank_loss_counts_each_ordered_pair_shortfall():
    targets = tf.constant([[0.9, 0.5, 0.45, 0.1], [0.2, 0.8, 0.0, 0.0]])
    scores = tf.constant([[0.3, 0.6, 0.0, 0.2], [0.0, 0.9, 0.5, 0.5]])
    mask = tf.constant([[True, True, True, True], [True, True, False, False]])
    # Ordered pairs (gap >= 0.1) and shortfalls max(0, target gap -
    # predicted gap): clip 1: (0.9, 0.5) 0.7, (0.9, 0.45) 0.15,
    # (0.9, 0.1) 0.7, (0.5, 0.1) 0, (0.45, 0.1) 0.55; (0.5, 0.45) is
    # closer than 0.1. Clip 2: (0.8, 0.2) 0; its padding counts for
    # nothing.
    expected = (0.7 + 0.15 + 0.7 + 0.0 + 0.55 + 0.0) / 6
    got = frame_rank_loss(scores, targets, mask)
    np.testing.assert_allclose(float(got), expected, rtol=1e-6)
    assert float(frame_rank_loss(targets, targets, mask)) == 0.0
    # The task adds it to the squared error, weighted.
    task = video_summarizer(hidden_dim=8, image_size=16, num_frames=4)
    task.rank_loss_weight = 0.5
    x = {"frame_mask": mask}
    loss = task.compute_loss(
        x, {"frame_scores": targets}, {"frame_scores": scores}
    )
    squared = np.mean(np.square(scores.numpy() - targets.numpy())[mask.numpy()])
    np.testing.assert_allclose(float(loss), squared + 0.5 * expected, 1e-6)
    with pytest.raises(ValueError, match="rank_loss_weight must be 0"):
        video_summarizer(hidden_dim=8, image_size=16, rank_loss_weight=-1)


def test_a_saved_task_reloads_with_equal_outputs(task, tmp_path):
    raw = {"video": np.array([_clip()], object), "text": np.array(["a red"])}
    path = str(tmp_path / "task.keras")
    task.save(path)
    reloaded = keras.saving.load_model(path)
    before, after = task.predict_raw(raw), reloaded.predict_raw(raw)
    for key in before:
        np.testing.assert_allclose(after[key], before[key], atol=1e-6)
    assert reloaded.budget == task.budget
    assert reloaded.rank_loss_weight == 0.5
    assert before["frame_scores"].dtype == tf.float32


@pytest.mark.slow
def test_served_signatures_equal_the_keras_model_and_numpy(task, served):
    clip = _clip()
    got = served["serving_default"]({"video": tf.constant(clip)})
    expected = task.summarize(clip)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], atol=1e-5)
    outputs = task.predict_raw({"video": np.array([clip], object)})
    summary = keyshots.summarize(
        outputs["frame_scores"][0].numpy(),
        outputs["frame_features"][0].numpy(),
        num_frames=len(clip),
    )
    assert got["shot_boundaries"].numpy().tolist() == summary.shots.tolist()
    assert (
        got["selected_frames"].numpy().tolist()
        == summary.selected_frames.tolist()
    )
    queried = served["summarize_query"](
        {"video": tf.constant(clip), "query": tf.constant("a red circle")}
    )
    expected = task.summarize(clip, "a red circle")
    np.testing.assert_allclose(
        queried["frame_scores"], expected["frame_scores"], atol=1e-5
    )
    # The query reaches the scores (which shots it picks: see the
    # trained test in tests/training/test_video_summary.py).
    assert not np.allclose(queried["frame_scores"], got["frame_scores"])


@pytest.mark.slow
def test_a_long_clip_is_sampled_and_the_sampling_is_reported(task, served):
    clip = _clip((20, 30))
    got = served["serving_default"]({"video": tf.constant(clip)})
    assert int(got["num_frames"]) == 50
    indices = got["frame_indices"].numpy().tolist()
    assert indices == [3, 9, 15, 21, 28, 34, 40, 46]
    assert got["shot_boundaries"].numpy()[-1, 1] == 50
    assert len(got["selected_frames"]) <= keyshots.budget_frames(50)


@pytest.mark.slow
def test_bad_clips_are_clear_errors(task, served):
    serve = served["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="clip is empty"):
        serve({"video": tf.constant([], tf.string)})
    with pytest.raises(tf.errors.InvalidArgumentError, match="clip is empty"):
        serve({"video": tf.constant(["", ""])})
    broken = _clip((3,))
    broken[1] = b"not an image"
    with pytest.raises(tf.errors.InvalidArgumentError, match="frame 1"):
        serve({"video": tf.constant(broken)})
    # Every frame's header is checked, not only the sampled frames'.
    unsampled = _clip((12,))
    unsampled[4] = b"not an image"
    got = served["serving_default"]({"video": tf.constant(_clip((12,)))})
    assert 4 not in got["frame_indices"].numpy().tolist()
    with pytest.raises(
        tf.errors.InvalidArgumentError, match="video 0, frame 4 is not a PNG"
    ):
        serve({"video": tf.constant(unsampled)})
    mixed = _clip((3,)) + _clip((2,), size=24)
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match="video 0: frame 3 is 24x24 but frame 0 is 16x16",
    ):
        serve({"video": tf.constant(mixed)})
    too_long = [_clip((1,))[0]] * (
        task.preprocessor.video_preprocessor.max_frames + 1
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_frames"):
        serve({"video": tf.constant(too_long)})


@pytest.mark.slow
def test_the_device_model_runs_in_litert_like_keras(task, tmp_path):
    path = str(tmp_path / "summary.tflite")
    tflite.export_tflite(task, path)
    interpreter = tflite.load_interpreter(model_path=path)
    raw = {
        "video": np.array([_clip(), _clip((3, 9), seed=1)], object),
        "text": np.array(["a red circle", ""]),
    }
    inputs = {k: np.asarray(v) for k, v in task.device_inputs(raw).items()}
    got = tflite.run_signature(interpreter, inputs)
    expected = task.predict_raw(raw)
    for key in ("frame_scores", "frame_features"):
        np.testing.assert_allclose(got[key], expected[key], atol=1e-4)
    np.testing.assert_array_equal(got["frame_mask"], expected["frame_mask"])
    # On the device, shots and the knapsack run in numpy.
    real = int(got["frame_mask"][0].sum())
    summary = keyshots.summarize(
        got["frame_scores"][0][:real],
        got["frame_features"][0][:real],
        num_frames=12,
    )
    assert summary.frames.shape == (12,)


COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (40, 60, 230)}


def _frame(colour):
    """A grey frame with a square of `colour` (each frame is standardised
    on its own, so a solid colour would look like any other)."""
    pixels = np.full((8, 8, 3), 128, np.uint8)
    pixels[2:6, 2:6] = COLOURS[colour]
    return tf.io.encode_png(pixels).numpy()


def _colour_clips(count, seed):
    """Clips of two shots of 4 frames, each showing a square of one
    colour; a query names one colour, and its frames matter."""
    rng = np.random.default_rng(seed)
    clips, queries, targets = [], [], []
    for _ in range(count):
        first, second = rng.choice(list(COLOURS), 2, replace=False)
        query = first if rng.random() < 0.5 else second
        pixels = [
            np.full((8, 8, 3), COLOURS[c], np.uint8) for c in (first,) * 4
        ]
        pixels += [np.full((8, 8, 3), COLOURS[second], np.uint8)] * 4
        clips.append([tf.io.encode_png(p).numpy() for p in pixels])
        queries.append(f"the {query} one")
        targets.append([float(c == query) for c in [first] * 4 + [second] * 4])
    return clips, queries, np.array(targets, np.float32)


@pytest.mark.slow
def test_the_query_changes_which_shots_are_chosen():
    keras.utils.set_random_seed(1)
    task = video_summarizer(
        ["[PAD]", "[UNK]", "the", "one", *COLOURS],
        hidden_dim=16,
        image_size=8,
        sequence_length=4,
        num_frames=8,
        budget=0.5,
    )
    clips, queries, targets = _colour_clips(48, seed=0)
    features = task.preprocessor(
        {"video": tf.constant(clips), "text": tf.constant(queries)}
    )
    task.compile(optimizer=keras.optimizers.Adam(3e-3))
    task.fit(
        dict(features),
        {"frame_scores": targets},
        epochs=8,
        batch_size=8,
        verbose=0,
    )
    red_then_blue = [_frame("red")] * 4 + [_frame("blue")] * 4
    for query, frames in (
        ("the red one", range(4)),
        ("the blue one", range(4, 8)),
    ):
        summary = task.summarize(red_then_blue, query)
        assert summary["shot_boundaries"].numpy().tolist() == [[0, 4], [4, 8]]
        assert summary["selected_frames"].numpy().tolist() == list(frames)
