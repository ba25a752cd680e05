"""CTC decoding: greedy (in TF builtins), beam search with a character
language model (numpy), and word timestamps from the greedy alignment.

Class 0 is the CTC blank everywhere; class `i > 0` is `vocabulary[i - 1]`
(one character each). `greedy_decode_tf` is made of ops that TFLite runs
as builtins (ARG_MAX, CUMSUM, ONE_HOT-free comparisons, BATCH_MATMUL), so
a device model decodes on its own; `greedy_decode` is its plain-Python
statement, which the tests hold it to.
"""

import math

import numpy as np
import tensorflow as tf

from mmkeras.models.char_language_model import END

BLANK = 0


def greedy_decode(logits, lengths, blank=BLANK):
    """Best-path decoding in plain Python: argmax per frame, collapse
    repeats, drop blanks.

    Args:
        logits: array `(batch, frames, classes)`.
        lengths: int array `(batch,)`: real frames per example.

    Returns:
        list of lists of int: each example's class ids.
    """
    best = np.argmax(np.asarray(logits), axis=-1)
    decoded = []
    for row, length in zip(best, np.asarray(lengths), strict=True):
        ids, previous = [], None
        for class_id in row[: int(length)]:
            if class_id != previous and class_id != blank:
                ids.append(int(class_id))
            previous = class_id
        decoded.append(ids)
    return decoded


def greedy_decode_tf(logits, lengths, blank=BLANK):
    """Best-path decoding in TF ops that TFLite has as builtins.

    A frame emits its argmax class when it is real, not blank, and not the
    previous frame's class; the emitted classes are moved to the front of
    each row (their rank among the row's emissions is a cumulative sum,
    and a comparison with each output slot makes a 0/1 matrix that one
    batched matmul applies).

    Args:
        logits: float `(batch, frames, classes)`.
        lengths: int `(batch,)`: real frames per example.

    Returns:
        dict of int32 `token_ids` `(batch, frames)` (emitted classes
        first, then `blank`), `token_counts` `(batch,)`, and
        `token_start_frames` / `token_end_frames` `(batch, frames)`: the
        first and last frame of each emitted class's run of frames (0
        past `token_counts`).
    """
    logits = tf.convert_to_tensor(logits)
    best = tf.argmax(logits, axis=-1, output_type=tf.int32)
    frames = tf.shape(best)[1]
    positions = tf.range(frames)
    # expand_dims, not tf.newaxis: a new-axis slice is not a builtin.
    real = tf.expand_dims(positions, 0) < tf.expand_dims(
        tf.cast(lengths, tf.int32), 1
    )
    previous = tf.concat([tf.fill([tf.shape(best)[0], 1], -1), best[:, :-1]], 1)
    following = tf.concat([best[:, 1:], tf.fill([tf.shape(best)[0], 1], -1)], 1)
    # A run ends where the class changes or the real frames end.
    next_real = tf.concat([real[:, 1:], tf.zeros_like(real[:, :1])], 1)
    spoken = tf.logical_and(real, tf.not_equal(best, blank))
    starts = tf.logical_and(spoken, tf.not_equal(best, previous))
    ends = tf.logical_and(
        spoken,
        tf.logical_or(tf.not_equal(best, following), tf.logical_not(next_real)),
    )
    frame_index = tf.broadcast_to(tf.expand_dims(positions, 0), tf.shape(best))
    return {
        "token_ids": _to_front(best, starts, blank),
        "token_counts": tf.reduce_sum(tf.cast(starts, tf.int32), axis=1),
        "token_start_frames": _to_front(frame_index, starts, 0),
        "token_end_frames": _to_front(frame_index, ends, 0),
    }


def _to_front(values, keep, fill):
    """int32 `values` where `keep`, moved to the front of each row in
    order, then `fill`."""
    frames = tf.shape(values)[1]
    rank = tf.cumsum(tf.cast(keep, tf.int32), axis=1) - 1
    slots = tf.reshape(tf.range(frames), [1, 1, -1])
    placed = tf.logical_and(
        tf.equal(tf.expand_dims(rank, 2), slots), tf.expand_dims(keep, 2)
    )
    placed = tf.cast(placed, tf.float32)
    # Class ids and frame indices are far below 2**24: exact in float32.
    shifted = tf.expand_dims(tf.cast(values - fill, tf.float32), 1)
    moved = tf.squeeze(tf.matmul(shifted, placed), axis=1)
    return tf.cast(tf.round(moved), tf.int32) + fill


def ids_to_text(ids, vocabulary):
    """The characters of class ids (blank and unknown ids skipped)."""
    return "".join(vocabulary[i - 1] for i in ids if 0 < i <= len(vocabulary))


def word_timestamps(decoded, vocabulary, seconds_per_frame):
    """Each example's words with start and end times, in TF ops.

    A word is a run of emitted characters other than the space; it starts
    at its first character's first frame and ends after its last
    character's last frame.

    Args:
        decoded: the dict `greedy_decode_tf` returns.
        vocabulary: list of str, the characters of classes 1, 2, ...
        seconds_per_frame: float. Time between the logits' frames.

    Returns:
        dict of `words` string `(batch, max_words)` (`""` past each
        example's words), `word_start_times` and `word_end_times` float32
        `(batch, max_words)` in seconds (-1 past the words), and int32
        `word_counts` `(batch,)`.
    """
    chars = tf.constant([""] + list(vocabulary))
    ids = tf.RaggedTensor.from_tensor(
        decoded["token_ids"], lengths=decoded["token_counts"]
    )
    starts = tf.RaggedTensor.from_tensor(
        decoded["token_start_frames"], lengths=decoded["token_counts"]
    )
    ends = tf.RaggedTensor.from_tensor(
        decoded["token_end_frames"], lengths=decoded["token_counts"]
    )
    is_space = tf.equal(tf.gather(chars, ids.flat_values), " ")
    is_space = ids.with_flat_values(is_space)
    previous_space = tf.concat(
        [tf.ones_like(is_space[:, :1]), is_space[:, :-1]], axis=1
    )
    first = tf.logical_and(tf.logical_not(is_space), previous_space)
    word_counts = tf.reduce_sum(tf.cast(first, tf.int32), axis=1)
    # Each character's word, numbered over the whole batch.
    offsets = tf.cumsum(word_counts, exclusive=True)
    in_row = tf.cumsum(tf.cast(first, tf.int32), axis=1) - 1
    word = (in_row + offsets[:, tf.newaxis]).flat_values
    letters = tf.logical_not(is_space.flat_values)
    word = tf.boolean_mask(word, letters)
    total = tf.reduce_sum(word_counts)
    text = tf.strings.unsorted_segment_join(
        tf.boolean_mask(tf.gather(chars, ids.flat_values), letters),
        word,
        total,
    )
    start = tf.math.unsorted_segment_min(
        tf.boolean_mask(starts.flat_values, letters), word, total
    )
    end = tf.math.unsorted_segment_max(
        tf.boolean_mask(ends.flat_values, letters), word, total
    )
    seconds = tf.constant(seconds_per_frame, tf.float32)

    def rows(values, fill):
        ragged = tf.RaggedTensor.from_row_lengths(values, word_counts)
        return ragged.to_tensor(default_value=fill)

    return {
        "words": rows(text, ""),
        "word_start_times": rows(tf.cast(start, tf.float32) * seconds, -1.0),
        "word_end_times": rows(tf.cast(end + 1, tf.float32) * seconds, -1.0),
        "word_counts": word_counts,
    }


def log_softmax(logits):
    """Numerically safe log-softmax over the last axis, in float64."""
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def beam_search(
    log_probs,
    vocabulary,
    beam_width=8,
    language_model=None,
    lm_weight=0.5,
    insertion_bonus=0.0,
    prune_below=-12.0,
):
    """CTC prefix beam search, with shallow fusion of a language model.

    A prefix's score is its CTC log-probability (summed over every
    alignment that collapses to it) plus `lm_weight` times its language
    model log-probability (`END` included once the frames run out) plus
    `insertion_bonus` per character. `lm_weight=0` (or no model) ranks by
    CTC probability alone.

    Args:
        log_probs: float `(frames, classes)` log-softmax of one example's
            real frames (class 0 the blank).
        vocabulary: list of str, the characters of classes 1, 2, ...
        beam_width: int. Prefixes kept after each frame.
        language_model: a `CharLanguageModel`, or None.
        lm_weight: float. Weight of the language model's log-probability.
        insertion_bonus: float. Added per character (offsets the LM's
            preference for short outputs).
        prune_below: float. Classes with a frame log-probability below
            this are not tried at that frame.

    Returns:
        str: the best transcript.
    """
    log_probs = np.asarray(log_probs, np.float64)
    use_lm = language_model is not None and lm_weight != 0
    negative = -math.inf
    # prefix -> [log p(ending in blank), log p(ending in a character)]
    beams = {"": [0.0, negative]}
    lm_scores = {"": 0.0}

    def lm_score(prefix):
        if prefix not in lm_scores:
            lm_scores[prefix] = lm_scores[prefix[:-1]] + (
                language_model.log_prob(prefix[:-1], prefix[-1])
                if use_lm
                else 0.0
            )
        return lm_scores[prefix]

    def score(prefix, probabilities, final=False):
        total = np.logaddexp(*probabilities)
        lm = lm_score(prefix)
        if final and use_lm:
            lm += language_model.log_prob(prefix, END)
        return total + lm_weight * lm + insertion_bonus * len(prefix)

    for frame in log_probs:
        candidates = [
            c for c in np.flatnonzero(frame > prune_below) if c != BLANK
        ]
        following = {}

        def add(prefix, index, value, following=following):
            entry = following.setdefault(prefix, [negative, negative])
            entry[index] = np.logaddexp(entry[index], value)

        for prefix, (blank_end, char_end) in beams.items():
            either = np.logaddexp(blank_end, char_end)
            add(prefix, 0, either + frame[BLANK])
            for class_id in candidates:
                char = vocabulary[class_id - 1]
                extended = prefix + char
                if prefix and prefix[-1] == char:
                    add(prefix, 1, char_end + frame[class_id])
                    add(extended, 1, blank_end + frame[class_id])
                else:
                    add(extended, 1, either + frame[class_id])
        ranked = sorted(following.items(), key=lambda item: -score(*item))
        beams = dict(ranked[:beam_width])
    return max(beams.items(), key=lambda item: score(*item, final=True))[0]
