"""Training-only augmentation of model inputs, as `tf.data` map steps."""

import tensorflow as tf

# Strengths, as fractions of each input's range; small enough to keep the
# label, large enough that a small encoder cannot memorise its examples.
IMAGE_SHIFT = 0.125
IMAGE_NOISE = 0.0
AUDIO_GAIN = 0.5
AUDIO_NOISE = 0.02
TOKEN_DROP = 0.1


def augment(features, seed=None):
    """Randomly perturbs one example's model inputs; returns new features.

    Images (and video frames) are shifted by up to 1/8 of their size with
    wrap-around and get Gaussian noise; waveforms get a random gain and
    noise; a caption loses about one token in ten (its id becomes
    `[UNK]`, id 1, so its length and padding stay). Missing modalities stay
    missing: presence flags are untouched.

    Args:
        features: dict of one example's model inputs (unbatched), as a
            `MultimodalPreprocessor` returns them.
        seed: int or None. Op-level seed of the draws.

    Returns:
        dict with the same keys, shapes and dtypes.
    """
    features = dict(features)
    if "images" in features:
        features["images"] = _augment_image(features["images"], seed)
    if "video_frames" in features:
        features["video_frames"] = _augment_image(
            features["video_frames"], seed
        )
    if "audio_waveform" in features:
        features["audio_waveform"] = _augment_audio(
            features["audio_waveform"], features["audio_mask"], seed
        )
    if "token_ids" in features:
        features["token_ids"] = _drop_tokens(features["token_ids"], seed)
    return features


def _augment_image(pixels, seed):
    """Shifts the last three axes' image and adds noise; keeps [-1, 1]."""
    side = min(pixels.shape[-3], pixels.shape[-2])
    max_shift = max(1, int(side * IMAGE_SHIFT))
    shift = tf.random.uniform([2], -max_shift, max_shift + 1, tf.int32, seed)
    pixels = tf.roll(pixels, shift, axis=[-3, -2])
    noise = tf.random.normal(tf.shape(pixels), stddev=IMAGE_NOISE, seed=seed)
    return tf.clip_by_value(pixels + noise, -1.0, 1.0)


def _augment_audio(waveform, mask, seed):
    gain = tf.random.uniform([], 1 - AUDIO_GAIN, 1 + AUDIO_GAIN, seed=seed)
    noise = tf.random.normal(tf.shape(waveform), stddev=AUDIO_NOISE, seed=seed)
    noisy = tf.clip_by_value(waveform * gain + noise, -1.0, 1.0)
    return tf.where(mask, noisy, 0.0)


def _drop_tokens(token_ids, seed):
    drop = tf.random.uniform(tf.shape(token_ids), seed=seed) < TOKEN_DROP
    return tf.where(drop & (token_ids > 0), tf.ones_like(token_ids), token_ids)
