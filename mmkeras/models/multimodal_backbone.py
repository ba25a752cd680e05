"""A backbone: one encoder per modality, then a fusion layer."""

import keras

from mmkeras.functional_model import FunctionalModel
from mmkeras.layers.modality_dropout import ModalityDropout


def model_inputs_by_name(encoders):
    """One fresh `keras.Input` per distinct encoder input name."""
    inputs = {}
    for modality in sorted(encoders):
        for tensor in encoders[modality].inputs:
            name = tensor.name
            if name in inputs:
                if tuple(inputs[name].shape) != tuple(tensor.shape):
                    raise ValueError(
                        f"Encoders disagree on input '{name}': shapes "
                        f"{tuple(inputs[name].shape)} and "
                        f"{tuple(tensor.shape)}."
                    )
                continue
            inputs[name] = keras.Input(
                shape=tensor.shape[1:], dtype=tensor.dtype, name=name
            )
    return inputs


def _encoder_output(outputs, key, modality):
    if not isinstance(outputs, dict) or key not in outputs:
        keys = sorted(outputs) if isinstance(outputs, dict) else outputs
        raise ValueError(
            f"The '{modality}' encoder must return a dict with "
            f"'{key}', received {keys}."
        )
    return outputs[key]


@keras.saving.register_keras_serializable(package="mmkeras")
class MultimodalBackbone(FunctionalModel):
    """Runs each modality's encoder and fuses their embeddings.

    Composition over configuration: pass already-built encoders and a
    fusion layer. Modalities are processed in sorted-key order; the model's
    inputs are the union of the encoders' named inputs (e.g. `images`,
    `token_ids`, `padding_mask`).

    A fusion layer of pooled embeddings (`AttentionFusion`,
    `WeightedSumFusion`, `ConcatFusion`, `GatedFusion`) gets each encoder's
    `pooled_output`. A token-level fusion layer (one whose `token_level`
    attribute is True, e.g. `CrossAttentionFusion`) gets each encoder's
    `sequence_output`, and as `padding_mask` each encoder's `sequence_mask`
    output where the encoder has one (an encoder without it has no
    padding).

    Args:
        encoders: dict of modality name to an encoder model whose outputs
            include `pooled_output` (and `sequence_output` for token-level
            fusion).
        fusion: a fusion layer from `mmkeras.layers`: called as
            `fusion(features, modality_mask=...)`, returning
            `(fused, modality_weights)`.
        modality_dropout: float. Rate at which `ModalityDropout` hides whole
            modalities in training (never all of an example's); 0 disables.
        stop_fusion_gradients: bool. Whether the fusion's gradients stop at
            the encoders' outputs, so encoders learn only from losses on
            `modality_features` (per-modality heads): a fast modality then
            cannot starve a slow one of learning.
        modality_presence: bool. Whether to add one bool `(batch,)` input
            per modality, named `"{modality}_present"`, that marks the
            modality as present (True) or missing (False) for each example.
        **kwargs: Base model arguments, e.g. `name` and `dtype`.

    Outputs:
        dict with `fused` `(batch, fusion width)` in the fusion's compute
        dtype, float32 `modality_weights` `(batch, num_modalities)`, and
        `modality_features`: each encoder's `pooled_output`, by modality
        (what per-modality heads read).

    Example:
    >>> backbone = MultimodalBackbone(
    ...     encoders={
    ...         "image": ImageEncoder(image_size=(32, 32), hidden_dim=16),
    ...         "text": TextEncoder(50, sequence_length=8, hidden_dim=16),
    ...     },
    ...     fusion=AttentionFusion(hidden_dim=16),
    ...     modality_presence=True,
    ... )
    >>> sorted(backbone.input)
    ['image_present', 'images', 'padding_mask', 'text_present', 'token_ids']
    """

    def __init__(
        self,
        encoders,
        fusion,
        modality_dropout=0.0,
        modality_presence=False,
        stop_fusion_gradients=False,
        **kwargs,
    ):
        if not encoders:
            raise ValueError("MultimodalBackbone needs at least one encoder.")
        token_level = getattr(fusion, "token_level", False)
        inputs = model_inputs_by_name(encoders)
        modality_mask = None
        if modality_presence:
            modality_mask = {}
            for modality in sorted(encoders):
                name = f"{modality}_present"
                if name in inputs:
                    raise ValueError(
                        f"An encoder already has an input named '{name}'; "
                        "rename it or use modality_presence=False."
                    )
                modality_mask[modality] = inputs[name] = keras.Input(
                    shape=(), dtype="bool", name=name
                )
        features, pooled, padding_mask = {}, {}, {}
        for modality in sorted(encoders):
            encoder = encoders[modality]
            encoder_inputs = keras.tree.map_structure(
                lambda t: inputs[t.name], encoder.input
            )
            outputs = encoder(encoder_inputs)
            pooled[modality] = _encoder_output(
                outputs, "pooled_output", modality
            )
            if not token_level:
                features[modality] = pooled[modality]
                continue
            features[modality] = _encoder_output(
                outputs, "sequence_output", modality
            )
            if "sequence_mask" in outputs:
                padding_mask[modality] = outputs["sequence_mask"]
        if stop_fusion_gradients:
            features = {
                m: keras.ops.stop_gradient(f) for m, f in features.items()
            }
        dropout = None
        if modality_dropout:
            dropout = ModalityDropout(
                modality_dropout,
                dtype=fusion.dtype_policy,
                name="modality_dropout",
            )
            modality_mask = dropout(features, modality_mask=modality_mask)
        fusion_kwargs = {"modality_mask": modality_mask}
        if token_level:
            fusion_kwargs["padding_mask"] = padding_mask or None
        fused, modality_weights = fusion(features, **fusion_kwargs)
        super().__init__(
            inputs=inputs,
            outputs={
                "fused": fused,
                "modality_weights": modality_weights,
                "modality_features": pooled,
            },
            **kwargs,
        )
        self.encoders = encoders
        self.fusion = fusion
        self.modality_dropout = modality_dropout
        self.modality_presence = modality_presence
        self.stop_fusion_gradients = stop_fusion_gradients
        self.modality_dropout_layer = dropout

    @property
    def modality_names(self):
        return sorted(self.encoders)

    def get_config(self):
        return {
            **super().get_config(),
            "encoders": {
                k: keras.saving.serialize_keras_object(v)
                for k, v in self.encoders.items()
            },
            "fusion": keras.saving.serialize_keras_object(self.fusion),
            "modality_dropout": self.modality_dropout,
            "modality_presence": self.modality_presence,
            "stop_fusion_gradients": self.stop_fusion_gradients,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoders"] = {
            k: keras.saving.deserialize_keras_object(v)
            for k, v in config["encoders"].items()
        }
        config["fusion"] = keras.saving.deserialize_keras_object(
            config["fusion"]
        )
        return cls(**config)
