"""A backbone: one encoder per modality, then a fusion layer."""

import keras

from mmkeras.functional_model import FunctionalModel

def _model_inputs_by_name(encoders):
    """One fresh `keras.Input` per distinct encoder input name."""
    inputs = {}
    for modality in sorted(encoders):
        for tensor in encoders[modality].inputs:
            name = tensor.name
            if name in inputs:
                if tuple(inputs[name].shape) != tuple(tensor.shape):
                    raise ValueError(
                        f"Encoders disagree on input '{name}': shapes "
                        f"{tuple(inputs[name].shape)} and {tuple(tensor.shape)}."
                    )
                continue
            inputs[name] = keras.Input(
                shape=tensor.shape[1:], dtype=tensor.dtype, name=name
            )
    return inputs


@keras.saving.register_keras_serializable(package="mmkeras")
class MultimodalBackbone(FunctionalModel):
    """Runs each modality's encoder and fuses their pooled embeddings.

    Composition over configuration: pass already-built encoders and a
    fusion layer. Modalities are processed in sorted-key order; the model's
    inputs are the union of the encoders' named inputs (e.g. `images`,
    `token_ids`, `padding_mask`).

    Args:
        encoders: dict of modality name to an encoder model whose outputs
            include `pooled_output`.
        fusion: a fusion layer taking a dict of `(batch, features)` tensors
            and returning `(fused, modality_weights)`, e.g.
            `mmkeras.layers.AttentionFusion`.
        **kwargs: Base model arguments, e.g. `name`.

    Outputs:
        dict with `fused` `(batch, fusion width)` and `modality_weights`
        `(batch, num_modalities)`.

    Example:
    >>> backbone = MultimodalBackbone(
    ...     encoders={
    ...         "image": ImageEncoder(image_size=(32, 32), hidden_dim=16),
    ...         "text": TextEncoder(50, sequence_length=8, hidden_dim=16),
    ...     },
    ...     fusion=AttentionFusion(hidden_dim=16),
    ... )
    >>> sorted(backbone.input)
    ['images', 'padding_mask', 'token_ids']
    """

    def __init__(self, encoders, fusion, **kwargs):
        if not encoders:
            raise ValueError("MultimodalBackbone needs at least one encoder.")
        inputs = _model_inputs_by_name(encoders)
        embeddings = {}
        for modality in sorted(encoders):
            encoder = encoders[modality]
            encoder_inputs = keras.tree.map_structure(
                lambda t: inputs[t.name], encoder.input
            )
            embeddings[modality] = encoder(encoder_inputs)["pooled_output"]
        fused, modality_weights = fusion(embeddings)
        super().__init__(
            inputs=inputs,
            outputs={"fused": fused, "modality_weights": modality_weights},
            **kwargs,
        )
        self.encoders = encoders
        self.fusion = fusion

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
