"""A small transformer audio encoder over an in-graph log-mel frontend."""

import keras
from keras import ops

from mmkeras.encoders.token_encoding import encode_tokens
from mmkeras.functional_model import FunctionalModel
from mmkeras.layers.frame_mask import FrameMask
from mmkeras.layers.log_mel_spectrogram import LogMelSpectrogram
from mmkeras.layers.sinusoidal_position_encoding import (
    SinusoidalPositionEncoding,
)
from mmkeras.layers.spec_augment import SpecAugment

# Two stride-2 convolutions: tokens every 40 ms with the default 10 ms hop.
SUBSAMPLING_LAYERS = 2
SUBSAMPLING_KERNEL = 3
SUBSAMPLING_STRIDE = 2


@keras.saving.register_keras_serializable(package="mmkeras")
class AudioEncoder(FunctionalModel):
    """Encodes raw waveforms: log-mel, convolutional subsampling, transformer.

    The log-mel spectrogram (25 ms Hann frames every 10 ms, see
    `mmkeras.layers.LogMelSpectrogram`) is computed inside the model, in
    float32 under every dtype policy. Two `"valid"` 1D convolutions
    (kernel 3, stride 2, GELU) subsample the frames 4x and project them to
    `hidden_dim`; sinusoidal position encodings and pre-norm transformer
    blocks follow, then a final layer norm and a masked mean.

    Padding never reaches a real token: padded samples are zeroed, a frame
    is real only if all of its samples are (`FrameMask`), and because the
    convolutions are `"valid"` a real token only ever sees real frames.
    Padded tokens are not attended to and not pooled, so appending padding
    leaves the pooled output unchanged. The sample axis has no fixed
    length; a clip needs at least `frame_length + 6 * frame_step` samples
    (85 ms) for one token, and a clip with no token pools to zeros.

    Args:
        sample_rate: int. Sample rate of the waveforms, in Hz.
        hidden_dim: int. Width of the tokens and outputs.
        num_layers: int. Number of transformer blocks.
        num_heads: int. Attention heads per block; must divide
            `hidden_dim`.
        dropout: float. Dropout rate inside the blocks.
        num_mel_bins: int. Number of mel bands of the spectrogram.
        spec_augment: bool. Mask random mel bands and runs of frames of
            the spectrogram while training (`SpecAugment`); inference is
            unchanged.
        **kwargs: Base model arguments, e.g. `name` and `dtype`.

    Inputs:
        audio_waveform: float32 `(batch, samples)`, mono, in [-1, 1] (see
            `mmkeras.preprocessing.WavDecoder`).
        audio_mask: bool `(batch, samples)`, False on padding.

    Outputs:
        dict with `pooled_output` `(batch, hidden_dim)` (masked mean),
        `sequence_output` `(batch, tokens, hidden_dim)` and
        `sequence_mask` bool `(batch, tokens)` (True = real token).

    Example:
    >>> encoder = AudioEncoder(sample_rate=8000, hidden_dim=16)
    >>> outputs = encoder({"audio_waveform": np.zeros((2, 1600), "float32"),
    ...                    "audio_mask": np.ones((2, 1600), bool)})
    >>> outputs["sequence_output"].shape  # 18 frames -> 8 -> 3 tokens
    TensorShape([2, 3, 16])
    """

    def __init__(
        self,
        sample_rate,
        hidden_dim,
        num_layers=1,
        num_heads=2,
        dropout=0.0,
        num_mel_bins=40,
        spec_augment=False,
        **kwargs,
    ):
        dtype = kwargs.pop("dtype", None)
        waveform = keras.Input((None,), dtype="float32", name="audio_waveform")
        audio_mask = keras.Input((None,), dtype="bool", name="audio_mask")
        log_mel = LogMelSpectrogram(
            sample_rate, num_mel_bins, dtype=dtype, name="log_mel"
        )
        # Zeroing keeps non-finite or huge padding out of every frame.
        x = log_mel(ops.where(audio_mask, waveform, 0.0))
        if spec_augment:
            x = SpecAugment(name="spec_augment")(x)
        mask = FrameMask(
            log_mel.frame_length,
            log_mel.frame_step,
            dtype=dtype,
            name="frame_mask",
        )(audio_mask)
        for i in range(SUBSAMPLING_LAYERS):
            x = keras.layers.Conv1D(
                hidden_dim,
                SUBSAMPLING_KERNEL,
                strides=SUBSAMPLING_STRIDE,
                padding="valid",
                activation="gelu",
                dtype=dtype,
                name=f"subsampling_{i}",
            )(x)
            mask = FrameMask(
                SUBSAMPLING_KERNEL,
                SUBSAMPLING_STRIDE,
                dtype=dtype,
                name=f"subsampling_mask_{i}",
            )(mask)
        x = SinusoidalPositionEncoding(dtype=dtype, name="position_encoding")(x)
        outputs = encode_tokens(
            x,
            mask,
            num_layers,
            num_heads,
            intermediate_dim=hidden_dim * 4,
            dropout=dropout,
            dtype=dtype,
        )
        super().__init__(
            inputs={"audio_waveform": waveform, "audio_mask": audio_mask},
            outputs=outputs,
            dtype=dtype,
            **kwargs,
        )
        self.sample_rate = sample_rate
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.dropout = dropout
        self.num_mel_bins = num_mel_bins
        self.spec_augment = spec_augment

    def get_config(self):
        config = super().get_config()
        config.update(
            sample_rate=self.sample_rate,
            hidden_dim=self.hidden_dim,
            num_layers=self.num_layers,
            num_heads=self.num_heads,
            dropout=self.dropout,
            num_mel_bins=self.num_mel_bins,
            spec_augment=self.spec_augment,
        )
        return config
