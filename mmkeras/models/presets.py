"""Ready-made model assemblies; their sizes are the functions' defaults."""

from mmkeras.encoders.image_encoder import ImageEncoder
from mmkeras.encoders.text_encoder import TextEncoder
from mmkeras.layers.attention_fusion import AttentionFusion
from mmkeras.models.multimodal_backbone import MultimodalBackbone
from mmkeras.models.multimodal_classifier import MultimodalClassifier


def image_text_classifier(
    vocabulary_size,
    num_classes,
    image_size=(32, 32),
    sequence_length=24,
    hidden_dim=64,
    num_layers=1,
    num_heads=2,
    dtype=None,
):
    """An image + text classifier fused by `AttentionFusion`.

    Example:
    >>> model = image_text_classifier(vocabulary_size=100, num_classes=3)
    >>> sorted(model.input)
    ['images', 'padding_mask', 'token_ids']
    """
    encoders = {
        "image": ImageEncoder(
            image_size, hidden_dim, dtype=dtype, name="image_encoder"
        ),
        "text": TextEncoder(
            vocabulary_size,
            sequence_length,
            hidden_dim,
            num_layers=num_layers,
            num_heads=num_heads,
            dtype=dtype,
            name="text_encoder",
        ),
    }
    fusion = AttentionFusion(hidden_dim, dtype=dtype, name="fusion")
    backbone = MultimodalBackbone(encoders, fusion, name="backbone")
    return MultimodalClassifier(
        backbone, num_classes, hidden_dim=hidden_dim, name="classifier"
    )
