"""The inputs a device gives a task's TFLite model, for every task.

A device decodes and resizes media itself, so a task's device signatures
(`Task.device_signatures`) take decoded values: `images` float32 pixels
in [0, 255] `(batch, height, width, 3)`; `text` strings, tokenised inside
the model by TF Text's TFLite ops; `audio_waveform` float32 `(batch,
samples)` with `audio_mask` (False on padding); `video_frames` float32
pixels `(batch, frames, height, width, 3)` with `frame_mask`. Each size
is the task's preprocessor's.
"""

import tensorflow as tf

# Device inputs in [0, 255] that ImagePreprocessor's scaling takes to the
# model's [-1, 1].
PIXEL_INPUTS = ("images", "video_frames")
# Model inputs that a device signature makes itself, from `text` strings.
TOKEN_INPUTS = ("token_ids", "padding_mask")


def device_input_specs(features, modalities=None):
    """`tf.TensorSpec`s of the device inputs of some modalities.

    Args:
        features: a `MultimodalPreprocessor` (it knows the input sizes).
        modalities: modality names, or None for all of `features`'.

    Returns:
        dict of input name to `tf.TensorSpec`, batch dimension None.

    Example:
    >>> features = MultimodalPreprocessor(
    ...     image_preprocessor=ImagePreprocessor((8, 8)),
    ...     tokenizer=WordPieceTokenizer(["[PAD]", "[UNK]", "hi"], 4),
    ... )
    >>> specs = device_input_specs(features)
    >>> specs["images"].shape, specs["text"].dtype
    (TensorShape([None, 8, 8, 3]), tf.string)
    """
    modalities = features.modalities if modalities is None else modalities
    specs = {}
    if "image" in modalities:
        size = list(features.image_preprocessor.image_size)
        specs["images"] = tf.TensorSpec([None, *size, 3], tf.float32, "images")
    if "text" in modalities:
        specs["text"] = tf.TensorSpec([None], tf.string, "text")
    if "audio" in modalities:
        samples = features.wav_decoder.num_samples
        specs["audio_waveform"] = tf.TensorSpec(
            [None, samples], tf.float32, "audio_waveform"
        )
        specs["audio_mask"] = tf.TensorSpec(
            [None, samples], tf.bool, "audio_mask"
        )
    if "video" in modalities:
        video = features.video_preprocessor
        shape = [None, video.num_frames, *video.image_size, 3]
        specs["video_frames"] = tf.TensorSpec(shape, tf.float32, "video_frames")
        specs["frame_mask"] = tf.TensorSpec(
            [None, video.num_frames], tf.bool, "frame_mask"
        )
    return specs


def to_model_inputs(inputs, tokenizer):
    """Model inputs from device inputs, inside a device signature.

    `text` is tokenised by `tokenizer` into `token_ids` and
    `padding_mask`; pixels go from [0, 255] to the model's [-1, 1]; every
    other input passes as it is.
    """
    features = dict(inputs)
    if "text" in features:
        features.update(tokenizer(features.pop("text")))
    for key in PIXEL_INPUTS:
        if key in features:
            features[key] = features[key] / 127.5 - 1.0
    return features


def to_device_inputs(features, text=None):
    """Device inputs from a preprocessor's model inputs (its inverse).

    Pixels go back from [-1, 1] to [0, 255]; `token_ids` and
    `padding_mask` are replaced by the `text` strings they came from
    (None: the inputs have no text).
    """
    inputs = {k: v for k, v in features.items() if k not in TOKEN_INPUTS}
    if text is not None:
        inputs["text"] = tf.convert_to_tensor(text)
    for key in PIXEL_INPUTS:
        if key in inputs:
            inputs[key] = (inputs[key] + 1.0) * 127.5
    return inputs
