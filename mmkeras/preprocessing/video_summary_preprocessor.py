"""A summarisation record's raw values to model inputs and frame targets."""

import keras
import tensorflow as tf

from mmkeras.preprocessing.preprocessing_layer import PreprocessingLayer

# The raw target fields of a summarisation record: the annotators' mean
# importance over the clip (training), and the JSON of every annotator's
# scores with the clip's shots (evaluation).
IMPORTANCE_FIELD = "importance"
TARGET_FIELD = "summary_target"


@keras.saving.register_keras_serializable(package="mmkeras")
class VideoSummaryPreprocessor(PreprocessingLayer):
    """Samples and decodes a clip, tokenises its query, encodes targets.

    The clip goes through `video_preprocessor` (a `VideoPreprocessor`:
    `num_frames` frames sampled uniformly, decoded and scaled); the query
    (raw `text`, may be empty) through `tokenizer`, when the task reads
    queries. With the raw `importance` of a record (its annotators' mean
    score per annotated frame, any number of them, spanning the clip),
    each sampled frame's target is the mean importance over the part of
    the clip it stands for: sampled frame `i` of `r` real ones covers
    annotated frames `[i * n // r, (i + 1) * n // r)` (at least one), the
    same rule the evaluation uses. Padded frames get 0.

    Args:
        video_preprocessor: a `VideoPreprocessor`.
        tokenizer: a `WordPieceTokenizer`, or None for a task without
            queries.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: dict with `video` (encoded frames, `(frames,)` or
            `(batch, frames)`), optionally `text` (the query) and, for
            one example, `importance` float `(annotated frames,)`.

    Returns:
        The model inputs (`video_frames`, `frame_mask`, and `token_ids`
        with `padding_mask` when there is a tokenizer), or with
        `importance`, `(inputs, {"frame_scores": (num_frames,) float32})`.

    Example:
    >>> png = tf.io.encode_png(tf.zeros((8, 8, 3), tf.uint8))
    >>> layer = VideoSummaryPreprocessor(
    ...     VideoPreprocessor(num_frames=2, image_size=(4, 4))
    ... )
    >>> inputs, targets = layer(
    ...     {
    ...         "video": tf.stack([png] * 4),
    ...         "importance": tf.constant([0.0, 1.0, 1.0, 1.0]),
    ...     }
    ... )
    >>> targets["frame_scores"].numpy().tolist()
    [0.5, 1.0]
    """

    sublayer_args = ("video_preprocessor", "tokenizer")
    # Evaluation reads every annotator's scores; training their mean.
    label_field = TARGET_FIELD
    train_fields = (IMPORTANCE_FIELD,)

    def __init__(self, video_preprocessor, tokenizer=None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.video_preprocessor = video_preprocessor
        self.tokenizer = tokenizer

    @property
    def modalities(self):
        """The raw inputs read: "video", and "text" (the query)."""
        return ("text", "video") if self.tokenizer is not None else ("video",)

    def call(self, inputs):
        if not isinstance(inputs, dict) or "video" not in inputs:
            raise ValueError(
                "VideoSummaryPreprocessor expects a dict with 'video' "
                f"(encoded frames), received {inputs!r:.80}."
            )
        features = dict(self.video_preprocessor(inputs["video"]))
        if self.tokenizer is not None:
            text = inputs.get("text")
            if text is None:
                batch = tf.shape(features["frame_mask"])[:-1]
                text = tf.fill(batch, "")
            features.update(self.tokenizer(text))
        if IMPORTANCE_FIELD not in inputs:
            return features
        targets = frame_targets(
            inputs[IMPORTANCE_FIELD], features["frame_mask"]
        )
        return features, {"frame_scores": targets}

    def compute_output_spec(self, inputs):
        spec = dict(
            self.video_preprocessor.compute_output_spec(inputs["video"])
        )
        if self.tokenizer is not None:
            batch = tuple(inputs["video"].shape[:-1])
            length = (self.tokenizer.sequence_length,)
            spec["token_ids"] = keras.KerasTensor(batch + length, "int32")
            spec["padding_mask"] = keras.KerasTensor(batch + length, "bool")
        return spec


def frame_targets(importance, frame_mask):
    """float32 `(num_frames,)`: each real sampled frame's mean importance
    over the annotated frames it covers; 0 on padding.

    Args:
        importance: float `(annotated frames,)`.
        frame_mask: bool `(num_frames,)`, True on the real frames (first).
    """
    importance = tf.cast(tf.reshape(importance, [-1]), tf.float32)
    tf.debugging.assert_positive(
        tf.size(importance), message="A record's annotations are empty."
    )
    annotated = tf.size(importance)
    real = tf.maximum(tf.reduce_sum(tf.cast(frame_mask, tf.int32)), 1)
    positions = tf.range(tf.shape(frame_mask)[0])
    starts = tf.minimum(positions * annotated // real, annotated - 1)
    ends = tf.maximum((positions + 1) * annotated // real, starts + 1)
    ends = tf.minimum(ends, annotated)
    summed = tf.concat([[0.0], tf.cumsum(importance)], 0)
    means = (tf.gather(summed, ends) - tf.gather(summed, starts)) / tf.cast(
        ends - starts, tf.float32
    )
    return tf.where(frame_mask, means, 0.0)
