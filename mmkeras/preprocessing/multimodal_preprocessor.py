"""Raw values of a record, for any modalities, to a task model's inputs."""

import keras
import tensorflow as tf

from mmkeras.preprocessing.preprocessing_layer import PreprocessingLayer

# The raw value each modality takes, per example; a batch adds axis 0.
RAW_SHAPES = {"audio": (), "image": (), "text": (), "video": (None,)}


@keras.saving.register_keras_serializable(package="mmkeras")
class MultimodalPreprocessor(PreprocessingLayer):
    """Runs one preprocessing layer per modality and flags missing values.

    The modalities are the ones given a layer: `image` (encoded bytes, via
    `ImagePreprocessor`), `text` (a string, via `WordPieceTokenizer`),
    `audio` (WAV bytes, via `WavDecoder`) and `video` (a vector of encoded
    frames, via `VideoPreprocessor`). An empty value (an empty string, a
    blank caption, a clip without frames) is a missing modality: its
    inputs are zeros and its `<modality>_present` flag is False, which a
    backbone with `modality_presence=True` turns into zero fusion weight.

    Args:
        image_preprocessor: an `ImagePreprocessor` or None.
        tokenizer: a `WordPieceTokenizer` or None.
        wav_decoder: a `WavDecoder` or None.
        video_preprocessor: a `VideoPreprocessor` or None.
        **kwargs: Base layer arguments.

    Call arguments:
        inputs: dict of modality name to its raw value, one example
            (`image: ()`, `video: (frames,)`) or a batch (`image:
            (batch,)`, `video: (batch, frames)`). Every modality of the
            preprocessor must be a key; other keys are ignored.

    Returns:
        dict of model inputs (`images`, `token_ids`, `padding_mask`,
        `audio_waveform`, `audio_mask`, `video_frames`, `frame_mask`, as
        the modalities need) and a bool `<modality>_present` per modality.

    Example:
    >>> preprocessor = MultimodalPreprocessor(
    ...     tokenizer=WordPieceTokenizer(["[PAD]", "[UNK]", "hi"], 4)
    ... )
    >>> outputs = preprocessor({"text": tf.constant(["hi", ""])})
    >>> outputs["text_present"].numpy()
    array([ True, False])
    """

    sublayer_args = (
        "image_preprocessor",
        "tokenizer",
        "wav_decoder",
        "video_preprocessor",
    )

    def __init__(
        self,
        image_preprocessor=None,
        tokenizer=None,
        wav_decoder=None,
        video_preprocessor=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_preprocessor = image_preprocessor
        self.tokenizer = tokenizer
        self.wav_decoder = wav_decoder
        self.video_preprocessor = video_preprocessor
        if not self.modalities:
            raise ValueError(
                "MultimodalPreprocessor needs at least one modality layer: "
                "image_preprocessor, tokenizer, wav_decoder or "
                "video_preprocessor."
            )

    def _layers_by_modality(self):
        return {
            "audio": self.wav_decoder,
            "image": self.image_preprocessor,
            "text": self.tokenizer,
            "video": self.video_preprocessor,
        }

    @property
    def modalities(self):
        """Sorted names of the modalities this preprocessor reads."""
        layers = self._layers_by_modality()
        return tuple(m for m in sorted(layers) if layers[m] is not None)

    def raw_input_specs(self, batched=True):
        """`tf.TensorSpec` of each modality's raw value, named by modality."""
        batch = (None,) if batched else ()
        return {
            m: tf.TensorSpec(batch + RAW_SHAPES[m], tf.string, name=m)
            for m in self.modalities
        }

    def call(self, inputs):
        missing = [m for m in self.modalities if m not in inputs]
        if missing:
            raise ValueError(
                f"MultimodalPreprocessor expects raw values for "
                f"{list(self.modalities)}, missing {missing}. Pass an empty "
                "value for a modality an example does not have."
            )
        outputs = {}
        for modality in self.modalities:
            outputs.update(self.modality_inputs(modality, inputs[modality]))
        return outputs

    def modality_inputs(self, modality, raw):
        """One modality's model inputs and `<modality>_present` flag.

        Args:
            modality: str, one of `modalities`.
            raw: that modality's raw values, as `call` takes them.
        """
        layer = self._layers_by_modality().get(modality)
        if layer is None:
            raise ValueError(
                f"This preprocessor reads {list(self.modalities)}, not "
                f"{modality!r}."
            )
        raw = tf.convert_to_tensor(raw)
        outputs = layer(raw)
        if modality == "image":
            outputs = {"images": outputs}
        return {**outputs, f"{modality}_present": is_present(modality, raw)}


def is_present(modality, raw):
    """bool: whether each raw value holds something (not empty or blank)."""
    if modality == "text":
        raw = tf.strings.strip(raw)
    present = tf.strings.length(raw) > 0
    if modality == "video":
        present = tf.reduce_any(present, axis=-1)
    return present
