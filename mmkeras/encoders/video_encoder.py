"""A video encoder: a shared image encoder per frame, then a transformer."""

import keras
from keras import ops

from mmkeras.encoders.token_encoding import encode_tokens
from mmkeras.functional_model import FunctionalModel
from mmkeras.layers.frame_folding import FoldFrames
from mmkeras.layers.frame_folding import UnfoldFrames
from mmkeras.layers.sinusoidal_position_encoding import (
    SinusoidalPositionEncoding,
)


@keras.saving.register_keras_serializable(package="mmkeras")
class VideoEncoder(FunctionalModel):
    """Encodes frame sequences: per-frame image encoder, temporal transformer.

    Composition over configuration: pass an already-built image encoder
    (`ImageEncoder`, `VisionTransformerEncoder` or any model taking
    `images` and returning `pooled_output`). It runs once on all frames of
    the batch (the frame axis is folded into the batch axis), so its
    weights are shared across frames. Each frame's pooled embedding is
    projected to `hidden_dim`, gets a sinusoidal encoding of its position
    in time, and temporal pre-norm transformer blocks mix the frames.

    Padded frames (False in `frame_mask`) are zeroed before the image
    encoder, not attended to, and not pooled, so appending padded frames
    leaves the pooled output unchanged. The frame axis has no fixed length.
    (An image encoder with batch norm would compute its batch statistics
    over padded frames too; `ImageEncoder` and `VisionTransformerEncoder`
    have none.)

    Args:
        image_encoder: a model with one `images` input `(batch, height,
            width, channels)` whose outputs include `pooled_output`.
        hidden_dim: int. Width of the frame tokens and outputs.
        num_layers: int. Number of temporal transformer blocks.
        num_heads: int. Attention heads per block; must divide
            `hidden_dim`.
        dropout: float. Dropout rate inside the blocks.
        **kwargs: Base model arguments, e.g. `name` and `dtype`.

    Inputs:
        video_frames: float `(batch, frames, height, width, channels)`,
            each frame prepared as `image_encoder` expects (see
            `mmkeras.preprocessing.FrameSampler`).
        frame_mask: bool `(batch, frames)`, False on padded frames.

    Outputs:
        dict with `pooled_output` `(batch, hidden_dim)` (masked mean over
        frames), `sequence_output` `(batch, frames, hidden_dim)` (one
        token per frame) and `sequence_mask`, the frame mask.

    Example:
    >>> encoder = VideoEncoder(
    ...     ImageEncoder(image_size=(16, 16), hidden_dim=16), hidden_dim=16
    ... )
    >>> outputs = encoder({"video_frames": np.zeros((2, 4, 16, 16, 3)),
    ...                    "frame_mask": np.ones((2, 4), bool)})
    >>> outputs["sequence_output"].shape
    TensorShape([2, 4, 16])
    """

    def __init__(
        self,
        image_encoder,
        hidden_dim,
        num_layers=1,
        num_heads=2,
        dropout=0.0,
        **kwargs,
    ):
        dtype = kwargs.pop("dtype", None)
        frame_shape = _frame_shape(image_encoder)
        frames = keras.Input((None,) + frame_shape, name="video_frames")
        frame_mask = keras.Input((None,), dtype="bool", name="frame_mask")
        # Zeroing keeps non-finite or huge padding out of the image encoder.
        images = FoldFrames(dtype=dtype, name="fold_frames")(
            ops.where(frame_mask[:, :, None, None, None], frames, 0.0)
        )
        x = image_encoder(images)["pooled_output"]
        x = UnfoldFrames(dtype=dtype, name="unfold_frames")(x, frame_mask)
        x = keras.layers.Dense(hidden_dim, dtype=dtype, name="projection")(x)
        x = SinusoidalPositionEncoding(dtype=dtype, name="position_encoding")(x)
        outputs = encode_tokens(
            x,
            frame_mask,
            num_layers,
            num_heads,
            intermediate_dim=hidden_dim * 4,
            dropout=dropout,
            dtype=dtype,
        )
        super().__init__(
            inputs={"video_frames": frames, "frame_mask": frame_mask},
            outputs=outputs,
            dtype=dtype,
            **kwargs,
        )
        self.image_encoder = image_encoder
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.dropout = dropout

    def get_config(self):
        config = super().get_config()
        config.update(
            image_encoder=keras.saving.serialize_keras_object(
                self.image_encoder
            ),
            hidden_dim=self.hidden_dim,
            num_layers=self.num_layers,
            num_heads=self.num_heads,
            dropout=self.dropout,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["image_encoder"] = keras.saving.deserialize_keras_object(
            config["image_encoder"]
        )
        return cls(**config)


def _frame_shape(image_encoder):
    """`(height, width, channels)` of the image encoder's `images` input."""
    inputs = getattr(image_encoder, "inputs", None)
    outputs = getattr(image_encoder, "output", None)
    if (
        not inputs
        or len(inputs) != 1
        or not isinstance(outputs, dict)
        or "pooled_output" not in outputs
    ):
        raise TypeError(
            "VideoEncoder needs an image encoder model with a single images "
            "input and a dict output with 'pooled_output' (e.g. "
            f"ImageEncoder); received {image_encoder!r}."
        )
    shape = tuple(inputs[0].shape[1:])
    if len(shape) != 3 or None in shape:
        raise ValueError(
            "VideoEncoder needs an image encoder with a fixed (height, width, "
            f"channels) input, received input shape {inputs[0].shape}."
        )
    return shape
