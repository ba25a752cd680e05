"""Ready-made task assemblies for any subset of modalities."""

from mmkeras.encoders.audio_encoder import AudioEncoder
from mmkeras.encoders.image_encoder import ImageEncoder
from mmkeras.encoders.text_encoder import TextEncoder
from mmkeras.encoders.video_encoder import VideoEncoder
from mmkeras.layers.attention_fusion import AttentionFusion
from mmkeras.layers.concat_fusion import ConcatFusion
from mmkeras.layers.cross_attention_fusion import CrossAttentionFusion
from mmkeras.layers.gated_fusion import GatedFusion
from mmkeras.layers.weighted_sum_fusion import WeightedSumFusion
from mmkeras.models.dual_encoder import DualEncoder
from mmkeras.models.multimodal_backbone import MultimodalBackbone
from mmkeras.models.multimodal_classifier import MultimodalClassifier
from mmkeras.preprocessing.classifier_preprocessor import ClassifierPreprocessor
from mmkeras.preprocessing.dual_encoder_preprocessor import (
    DualEncoderPreprocessor,
)
from mmkeras.preprocessing.image_preprocessor import ImagePreprocessor
from mmkeras.preprocessing.multimodal_preprocessor import MultimodalPreprocessor
from mmkeras.preprocessing.video_preprocessor import VideoPreprocessor
from mmkeras.preprocessing.wav_decoder import WavDecoder
from mmkeras.preprocessing.word_piece_tokenizer import WordPieceTokenizer

MODALITIES = ("audio", "image", "text", "video")
FUSIONS = ("attention", "weighted_sum", "concat", "gated", "cross_attention")


def multimodal_classifier(
    modalities,
    class_names,
    vocabulary=None,
    fusion="attention",
    hidden_dim=64,
    num_layers=1,
    num_heads=2,
    image_size=32,
    sequence_length=24,
    sample_rate=8000,
    clip_seconds=1.0,
    num_frames=8,
    dropout=0.1,
    modality_dropout=0.0,
    auxiliary_loss_weight=0.0,
    modality_evidence=True,
    stop_fusion_gradients=False,
    dtype=None,
    metadata=None,
):
    """A `MultimodalClassifier` with its preprocessor, for any modalities.

    One encoder per modality (`ImageEncoder`, `TextEncoder`,
    `AudioEncoder`, `VideoEncoder` over a per-frame `ImageEncoder`), the
    chosen fusion, presence inputs (so any modality may be missing), and a
    `ClassifierPreprocessor` that reads the raw values: encoded images,
    captions, WAV bytes (resampled to `sample_rate`, cut or padded to
    `clip_seconds`) and clips of encoded frames.

    Args:
        modalities: iterable of "audio", "image", "text", "video".
        class_names: list of str. The labels, in id order.
        vocabulary: list of str. The tokenizer's word pieces (text only).
        fusion: "attention" (with context), "weighted_sum", "concat",
            "gated" or
            "cross_attention" (text tokens attend to the others' when text
            is a modality, else the first modality's).
        hidden_dim, num_layers, num_heads, dropout: encoder sizes.
        image_size: int. Side of the square images and video frames.
        sequence_length: int. Tokens per caption.
        sample_rate: int. Audio sample rate, in Hz.
        clip_seconds: float. Audio length the model reads.
        num_frames: int. Video frames sampled per clip.
        modality_dropout: float. Rate of `ModalityDropout` in training.
        auxiliary_loss_weight: float. Weight of the per-modality heads'
            loss (see `MultimodalClassifier`).
        modality_evidence: bool. Add the per-modality heads' weighted
            evidence to the fused logits (see `MultimodalClassifier`).
        stop_fusion_gradients: bool. Encoders learn from their own heads
            only (see `MultimodalBackbone`).
        dtype: dtype policy name (e.g. "mixed_float16") or None.
        metadata: dict of JSON values saved with the task.

    Example:
    >>> model = multimodal_classifier(
    ...     ["image", "text"], ["cat", "dog"], ["[PAD]", "[UNK]", "a"]
    ... )
    >>> sorted(model.input)
    ['image_present', 'images', 'padding_mask', 'text_present', 'token_ids']
    """
    modalities = _check_modalities(modalities, vocabulary)
    encoders, layers = _modality_parts(
        modalities,
        vocabulary,
        hidden_dim=hidden_dim,
        num_layers=num_layers,
        num_heads=num_heads,
        image_size=image_size,
        sequence_length=sequence_length,
        sample_rate=sample_rate,
        clip_seconds=clip_seconds,
        num_frames=num_frames,
        dropout=dropout,
        dtype=dtype,
    )
    backbone = MultimodalBackbone(
        encoders,
        _fusion(fusion, modalities, hidden_dim, num_heads, dtype),
        modality_dropout=modality_dropout,
        modality_presence=True,
        stop_fusion_gradients=stop_fusion_gradients,
        dtype=dtype,
        name="backbone",
    )
    preprocessor = ClassifierPreprocessor(
        MultimodalPreprocessor(**layers), class_names, name="preprocessor"
    )
    return MultimodalClassifier(
        backbone,
        len(class_names),
        hidden_dim=hidden_dim,
        dropout=dropout,
        auxiliary_loss_weight=auxiliary_loss_weight,
        modality_evidence=modality_evidence,
        preprocessor=preprocessor,
        metadata=metadata,
        dtype=dtype,
        name="classifier",
    )


def dual_encoder(
    modalities=("image", "text"),
    vocabulary=None,
    embedding_dim=64,
    loss="clip",
    hidden_dim=64,
    num_layers=1,
    num_heads=2,
    image_size=32,
    sequence_length=24,
    sample_rate=8000,
    clip_seconds=1.0,
    num_frames=8,
    dropout=0.1,
    dtype=None,
    metadata=None,
    gradient_cache_chunk_size=None,
):
    """A `DualEncoder` for retrieval between two modalities, with its
    preprocessor.

    The towers are the project's encoders, as in `multimodal_classifier`;
    the image (and frame) encoder pools by flattening its feature map,
    since for retrieval *where* an object is matters.

    Args:
        modalities: two of "audio", "image", "text", "video".
        vocabulary: list of str. The tokenizer's word pieces (text only).
        embedding_dim: int. Width of the shared embedding space.
        loss: "clip" or "sigmoid".
        hidden_dim, num_layers, num_heads, dropout: encoder sizes.
        image_size, sequence_length, sample_rate, clip_seconds,
            num_frames: input sizes, as in `multimodal_classifier`.
        dtype: dtype policy name (e.g. "mixed_float16") or None.
        metadata: dict of JSON values saved with the task.
        gradient_cache_chunk_size: int or None. Pairs per forward and
            backward pass in training (see `DualEncoder`).

    Example:
    >>> model = dual_encoder(vocabulary=["[PAD]", "[UNK]", "a"])
    >>> sorted(model.output)
    ['image_embeddings', 'text_embeddings']
    """
    modalities = _check_modalities(modalities, vocabulary)
    if len(modalities) != 2:
        raise ValueError(
            f"A dual encoder needs two modalities, received {modalities}."
        )
    encoders, layers = _modality_parts(
        modalities,
        vocabulary,
        hidden_dim=hidden_dim,
        num_layers=num_layers,
        num_heads=num_heads,
        image_size=image_size,
        sequence_length=sequence_length,
        sample_rate=sample_rate,
        clip_seconds=clip_seconds,
        num_frames=num_frames,
        dropout=dropout,
        dtype=dtype,
        image_pooling="flatten",
    )
    preprocessor = DualEncoderPreprocessor(
        MultimodalPreprocessor(**layers), name="preprocessor"
    )
    return DualEncoder(
        encoders,
        embedding_dim=embedding_dim,
        loss=loss,
        preprocessor=preprocessor,
        metadata=metadata,
        gradient_cache_chunk_size=gradient_cache_chunk_size,
        dtype=dtype,
        name="dual_encoder",
    )


def _check_modalities(modalities, vocabulary):
    modalities = sorted(set(modalities))
    unknown = sorted(set(modalities) - set(MODALITIES))
    if unknown or not modalities:
        raise ValueError(
            f"modalities must be a non-empty subset of {MODALITIES}, "
            f"received {modalities}."
        )
    if "text" in modalities and not vocabulary:
        raise ValueError("A text modality needs a vocabulary.")
    return modalities


def _modality_parts(
    modalities,
    vocabulary,
    hidden_dim,
    num_layers,
    num_heads,
    image_size,
    sequence_length,
    sample_rate,
    clip_seconds,
    num_frames,
    dropout,
    dtype,
    image_pooling="max",
):
    """One encoder and one preprocessing layer per modality.

    Returns:
        `(encoders, layers)`: modality to encoder, and the
        `MultimodalPreprocessor` arguments.
    """
    size = (image_size, image_size)
    encoder_args = dict(
        hidden_dim=hidden_dim,
        num_layers=num_layers,
        num_heads=num_heads,
        dropout=dropout,
        dtype=dtype,
    )
    encoders, layers = {}, {}
    if "audio" in modalities:
        encoders["audio"] = AudioEncoder(
            sample_rate, name="audio_encoder", **encoder_args
        )
        layers["wav_decoder"] = WavDecoder(
            sample_rate, round(clip_seconds * sample_rate), resample=True
        )
    if "image" in modalities:
        encoders["image"] = ImageEncoder(
            size,
            hidden_dim,
            pooling=image_pooling,
            dtype=dtype,
            name="image_encoder",
        )
        layers["image_preprocessor"] = ImagePreprocessor(size)
    if "text" in modalities:
        encoders["text"] = TextEncoder(
            len(vocabulary),
            sequence_length,
            name="text_encoder",
            **encoder_args,
        )
        layers["tokenizer"] = WordPieceTokenizer(vocabulary, sequence_length)
    if "video" in modalities:
        frame_encoder = ImageEncoder(
            size,
            hidden_dim,
            pooling=image_pooling,
            dtype=dtype,
            name="frame_encoder",
        )
        encoders["video"] = VideoEncoder(
            frame_encoder, name="video_encoder", **encoder_args
        )
        layers["video_preprocessor"] = VideoPreprocessor(num_frames, size)
    return encoders, layers


def _fusion(kind, modalities, hidden_dim, num_heads, dtype):
    args = dict(dtype=dtype, name="fusion")
    if kind == "attention":
        # Context lets a modality's weight depend on the others (does the
        # caption describe this picture?).
        return AttentionFusion(hidden_dim, use_context=True, **args)
    if kind == "weighted_sum":
        return WeightedSumFusion(hidden_dim, **args)
    if kind == "concat":
        return ConcatFusion(hidden_dim, **args)
    if kind == "gated":
        return GatedFusion(hidden_dim, **args)
    if kind == "cross_attention":
        query = "text" if "text" in modalities else modalities[0]
        return CrossAttentionFusion(
            hidden_dim, query, num_heads=num_heads, **args
        )
    raise ValueError(f"fusion must be one of {FUSIONS}, received {kind!r}.")
