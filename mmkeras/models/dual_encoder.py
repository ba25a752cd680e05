"""Retrieval: two towers that embed two modalities into one space."""

import keras
import numpy as np
import tensorflow as tf

from mmkeras import losses
from mmkeras.layers.logit_scale import LOSSES
from mmkeras.layers.logit_scale import LogitScale
from mmkeras.models import gallery_search
from mmkeras.models.device_inputs import device_input_specs
from mmkeras.models.device_inputs import to_device_inputs
from mmkeras.models.device_inputs import to_model_inputs
from mmkeras.models.gallery import check_width
from mmkeras.models.gradient_cache import gradient_cache_step
from mmkeras.models.multimodal_backbone import model_inputs_by_name
from mmkeras.models.task import Task

# The input of the search signature that says how many results to return.
SEARCH_K = "k"


@keras.saving.register_keras_serializable(package="mmkeras")
class DualEncoder(Task):
    """Two towers (CLIP, SigLIP) trained so that matching pairs embed close.

    Each tower is one of the project's encoders, a projection to
    `embedding_dim` and L2 normalisation; the similarity of two items is
    the dot product of their embeddings. Any two modalities work: image
    and text, audio and text, video and text.

    The loss is chosen by `loss`:

    - "clip": symmetric InfoNCE with a learned temperature (starts at
      1/0.07, scale clamped to [1, 100]);
    - "sigmoid": SigLIP's pairwise sigmoid loss (scale 10, bias -10 at
      the start, the paper's values).

    The targets are the preprocessor's item keys: when two examples of a
    batch hold the same image (or the same caption), neither counts as
    the other's negative. The embeddings, the logits and the loss are
    float32 under every dtype policy.

    A gallery (`Gallery`: embeddings of one modality with ids and paths)
    attached with `attach_gallery` adds a `search` serving signature that
    embeds queries of the other modality and returns the top-k items,
    searched exactly (`gallery_search.search`).

    With `gradient_cache_chunk_size`, `fit` trains on batches larger
    than memory allows (GradCache, `gradient_cache.gradient_cache_step`):
    the towers embed and backpropagate that many pairs at a time, while
    the loss and the one optimizer step see the whole batch, with the
    gradient of an ordinary step.

    Args:
        encoders: dict of exactly two modality names to encoders, each
            returning a dict with `pooled_output`.
        embedding_dim: int. Width of the shared embedding space.
        loss: "clip" or "sigmoid".
        preprocessor: a `DualEncoderPreprocessor`, or None.
        metadata: dict of JSON values kept with the saved task.
        gradient_cache_chunk_size: int or None. Pairs per forward and
            backward pass in training; None trains on whole batches.
        **kwargs: Base model arguments, e.g. `name` and `dtype`.

    Inputs:
        The encoders' inputs, by name (e.g. `images`, `token_ids`,
        `padding_mask`).

    Outputs:
        dict of float32 `<modality>_embeddings` `(batch, embedding_dim)`,
        unit length.

    Example:
    >>> from mmkeras.encoders import ImageEncoder, TextEncoder
    >>> task = DualEncoder(
    ...     {
    ...         "image": ImageEncoder((8, 8), 8),
    ...         "text": TextEncoder(10, 4, 8),
    ...     },
    ...     embedding_dim=4,
    ... )
    >>> sorted(task.output)
    ['image_embeddings', 'text_embeddings']
    """

    def __init__(
        self,
        encoders,
        embedding_dim=64,
        loss="clip",
        preprocessor=None,
        metadata=None,
        gradient_cache_chunk_size=None,
        **kwargs,
    ):
        if len(encoders) != 2:
            raise ValueError(
                "A DualEncoder has exactly two towers, received encoders for "
                f"{sorted(encoders)}."
            )
        if loss not in LOSSES:
            raise ValueError(
                f"loss must be one of {LOSSES}, received {loss!r}."
            )
        if gradient_cache_chunk_size is not None and (
            not isinstance(gradient_cache_chunk_size, int)
            or gradient_cache_chunk_size < 1
        ):
            raise ValueError(
                "gradient_cache_chunk_size must be a positive int or None, "
                f"received {gradient_cache_chunk_size!r}."
            )
        dtype = kwargs.pop("dtype", None)
        inputs = model_inputs_by_name(encoders)
        outputs = {}
        for modality in sorted(encoders):
            encoder = encoders[modality]
            pooled = encoder(
                keras.tree.map_structure(
                    lambda t: inputs[t.name], encoder.input
                )
            )["pooled_output"]
            projected = keras.layers.Dense(
                embedding_dim, dtype=dtype, name=f"{modality}_projection"
            )(pooled)
            # float32 before normalising: a float16 norm of a wide vector
            # loses the precision a cosine similarity needs.
            outputs[f"{modality}_embeddings"] = keras.layers.UnitNormalization(
                dtype="float32", name=f"{modality}_embeddings"
            )(projected)
        super().__init__(
            inputs=inputs,
            outputs=outputs,
            preprocessor=preprocessor,
            metadata=metadata,
            dtype=dtype,
            **kwargs,
        )
        self.encoders = encoders
        self.embedding_dim = embedding_dim
        self.loss_kind = loss
        self.gradient_cache_chunk_size = gradient_cache_chunk_size
        self.logit_scale = LogitScale(loss, name="logit_scale")
        self.gallery = None

    @property
    def modalities(self):
        """The two tower modalities, sorted."""
        return tuple(sorted(self.encoders))

    def default_loss(self):
        return None  # `compute_loss` computes the contrastive loss.

    def default_metrics(self):
        return None  # see `compute_metrics`

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        return self.own_loss_total(self.pair_loss(y, y_pred))

    def replica_loss(self, y, y_pred):
        """`pair_loss` as this replica's share (`replica_share`). The
        negatives are this replica's batch."""
        return self.replica_share(self.pair_loss(y, y_pred))

    def pair_loss(self, y, y_pred):
        """The contrastive loss of a batch's embeddings (`y`: its item
        keys, or None), without the layers' own losses."""
        first, second = (y_pred[f"{m}_embeddings"] for m in self.modalities)
        positives = None
        if y is not None:
            positives = losses.positive_pairs(
                *(y[f"{m}_keys"] for m in self.modalities)
            )
        scale, bias = self.logit_scale.scale_and_bias()
        if self.loss_kind == "clip":
            return losses.contrastive_loss(first, second, scale, positives)
        return losses.sigmoid_loss(first, second, scale, bias, positives)

    def train_step(self, data):
        if self.gradient_cache_chunk_size is None:
            return super().train_step(data)
        return gradient_cache_step(
            self, data, self.gradient_cache_chunk_size, self.replica_loss
        )

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        # Retrieval is measured over a whole gallery, never per batch
        # (`mmkeras.training.retrieval.RetrievalValidation`); the step only
        # reports its loss.
        return self.get_metrics_result()

    def embed(self, modality, raw):
        """float32 `(batch, embedding_dim)` embeddings of raw values of one
        modality (encoded images, captions, ...), as `embed_<modality>`."""
        features = self.preprocessor.features.modality_inputs(modality, raw)
        _check_present(features[f"{modality}_present"], modality)
        tower = self._tower(modality)
        return tower({k: features[k] for k in _input_names(tower)})

    def _tower(self, modality):
        """The functional sub-model from one modality's inputs to its
        embeddings (built once, sharing the task's layers)."""
        # Kept out of Keras' attribute tracking: the towers share the
        # task's layers, and saving must not see them twice.
        towers = self.__dict__.setdefault("_towers", {})
        if modality not in towers:
            encoder = self.encoders[modality]
            names = sorted(t.name for t in encoder.inputs)
            towers[modality] = keras.Model(
                {name: self.input[name] for name in names},
                self.output[f"{modality}_embeddings"],
            )
        return towers[modality]

    def predict_raw(self, raw):
        """`serving_default`'s outputs for a batch of raw pairs (eager)."""
        embeddings = {
            f"{m}_embeddings": self.embed(m, raw[m]) for m in self.modalities
        }
        first, second = embeddings.values()
        return {
            **embeddings,
            "scores": tf.reduce_sum(first * second, axis=-1),
        }

    def attach_gallery(self, gallery):
        """Serve `search` over `gallery` (an `mmkeras.models.Gallery`)."""
        if gallery.modality not in self.modalities:
            raise ValueError(
                f"The gallery holds {gallery.modality} embeddings; this "
                f"task embeds {' and '.join(self.modalities)}."
            )
        check_width(gallery.embeddings, self.embedding_dim)
        self.gallery = gallery

    def serving_signatures(self):
        """`embed_<modality>` for each tower, `serving_default` on pairs,
        and `search` when a gallery is attached.

        - `embed_<modality>`: one DT_STRING `(batch,)` input named after
          the modality (`video`: `(batch, frames)`); returns float32
          `embeddings`.
        - `serving_default`: both modalities' raw values; returns both
          `<modality>_embeddings` and `scores`, each pair's similarity.
        - `search`: the other modality's raw values and an int32 scalar
          `k`; returns the top-k gallery `ids`, `paths` and float32
          `scores`, best first.

        An empty value is an INVALID_ARGUMENT, as is `k` above the
        gallery's size.
        """
        if self.preprocessor is None:
            raise ValueError(
                "This dual encoder has no preprocessor, so it cannot serve "
                "raw inputs; build it with preprocessor="
                "DualEncoderPreprocessor."
            )
        specs = self.preprocessor.features.raw_input_specs()
        signatures = {}
        for modality in self.modalities:
            signatures[f"embed_{modality}"] = self._embed_signature(
                modality, specs[modality]
            )

        @tf.function(input_signature=[specs])
        def serve(raw):
            return self.predict_raw(raw)

        signatures["serving_default"] = serve
        if self.gallery is not None:
            signatures["search"] = self._search_signature(specs)
        return signatures

    def _embed_signature(self, modality, spec):
        @tf.function(input_signature=[spec])
        def embed(raw):
            return {"embeddings": self.embed(modality, raw)}

        return embed

    def _search_signature(self, specs):
        gallery = self.gallery
        (query,) = [m for m in self.modalities if m != gallery.modality]
        embeddings = tf.Variable(
            gallery.embeddings, trainable=False, name="gallery_embeddings"
        )
        ids = tf.Variable(gallery.ids, trainable=False, name="gallery_ids")
        paths = tf.Variable(
            gallery.paths, trainable=False, name="gallery_paths"
        )
        input_specs = {
            query: specs[query],
            SEARCH_K: tf.TensorSpec([], tf.int32, name=SEARCH_K),
        }

        @tf.function(input_signature=[input_specs])
        def search(inputs):
            scores, indices = gallery_search.search(
                self.embed(query, inputs[query]), embeddings, inputs[SEARCH_K]
            )
            return {
                "ids": tf.gather(ids, indices),
                "paths": tf.gather(paths, indices),
                "scores": scores,
            }

        return search

    def warmup_scalars(self):
        return {SEARCH_K: 1} if self.gallery is not None else {}

    def evaluate_outputs(self, outputs, targets):
        """Full-gallery retrieval metrics of `serving_default` outputs.

        Args:
            outputs: dict with both `<modality>_embeddings`, one row per
                pair.
            targets: sequence of item ids of the first modality, one per
                pair (a manifest's `image_id`, or the image's path): pairs
                with equal ids share one gallery item.
        """
        from mmkeras.metrics import retrieval_metrics

        gallery_modality, query_modality = self.modalities
        ids = [str(t) for t in targets]
        first_rows = {}
        for row, item in enumerate(ids):
            first_rows.setdefault(item, row)
        item_index = {item: i for i, item in enumerate(first_rows)}
        gallery = np.asarray(outputs[f"{gallery_modality}_embeddings"])
        metrics = retrieval_metrics(
            gallery[list(first_rows.values())],
            np.asarray(outputs[f"{query_modality}_embeddings"]),
            np.array([item_index[item] for item in ids]),
        )
        return {
            "examples": len(ids),
            "gallery_items": len(first_rows),
            **named_metrics(metrics, gallery_modality, query_modality),
        }

    def get_config(self):
        return {
            **super().get_config(),
            "encoders": {
                m: keras.saving.serialize_keras_object(e)
                for m, e in self.encoders.items()
            },
            "embedding_dim": self.embedding_dim,
            "loss": self.loss_kind,
            "gradient_cache_chunk_size": self.gradient_cache_chunk_size,
        }

    @classmethod
    def from_config(cls, config):
        config = cls._revive_preprocessor(config)
        config["encoders"] = {
            m: keras.saving.deserialize_keras_object(e)
            for m, e in config["encoders"].items()
        }
        return cls(**config)

    def device_signatures(self):
        """`embed_<modality>` per tower and `serving_default` on pairs, on
        the inputs a device has, for TFLite.

        Each modality's inputs are batched device values (see
        `mmkeras.models.device_inputs`): `images` float32 pixels in
        [0, 255] at the model's image size; `text` strings, tokenised in
        the model; `audio_waveform` with `audio_mask`; `video_frames` with
        `frame_mask`. `embed_<modality>` takes one modality's and returns
        float32 `embeddings`; `serving_default` takes both and returns
        both `<modality>_embeddings` and `scores`, as the serving
        signatures do.
        """
        if self.preprocessor is None:
            raise ValueError(
                "This dual encoder has no preprocessor, so it has no "
                "tokenizer or input sizes for a device; build it with "
                "preprocessor=DualEncoderPreprocessor."
            )
        signatures = {
            f"embed_{m}": self._device_embed_signature(m)
            for m in self.modalities
        }
        specs = device_input_specs(self.preprocessor.features)

        @tf.function(input_signature=[specs])
        def serve(inputs):
            features = self._device_model_inputs(inputs)
            embeddings = {
                f"{m}_embeddings": self._embed_features(m, features)
                for m in self.modalities
            }
            first, second = embeddings.values()
            return {
                **embeddings,
                "scores": tf.reduce_sum(first * second, axis=-1),
            }

        signatures["serving_default"] = serve
        return signatures

    def device_inputs(self, raw):
        """The device signatures' inputs for a batch of raw values.

        `raw` holds one modality's values (`embed_<modality>`'s inputs
        come out) or both (`serving_default`'s). The preprocessor decodes
        them as the serving signatures do; pixels go back from [-1, 1] to
        [0, 255] and captions stay strings.
        """
        modalities = [m for m in self.modalities if m in raw]
        if not modalities:
            raise ValueError(
                f"Expected raw values of {' or '.join(self.modalities)}, "
                f"received {sorted(raw)}."
            )
        features = {}
        for modality in modalities:
            inputs = self.preprocessor.features.modality_inputs(
                modality, raw[modality]
            )
            inputs.pop(f"{modality}_present")
            features.update(inputs)
        text = raw["text"] if "text" in modalities else None
        return to_device_inputs(features, text)

    def unsupported_quantizations(self):
        # Measured on the demo scenes (8 epochs): int8 activations took
        # text-to-image Recall@1 from 0.18 to 0.09 and R@10 from 0.88 to
        # 0.64 (the text tower's layer norms and the embeddings' L2 norm
        # divide by small, example-dependent statistics that one int8
        # scale cannot hold); dynamic kept them within a point.
        return {
            "int8": "int8 activations halve a dual encoder's retrieval "
            "recall; use --quantize dynamic (int8 weights) or float16."
        }

    def _device_embed_signature(self, modality):
        specs = device_input_specs(self.preprocessor.features, [modality])

        @tf.function(input_signature=[specs])
        def embed(inputs):
            features = self._device_model_inputs(inputs)
            return {"embeddings": self._embed_features(modality, features)}

        return embed

    def _device_model_inputs(self, inputs):
        return to_model_inputs(inputs, self.preprocessor.features.tokenizer)

    def _embed_features(self, modality, features):
        """One tower's embeddings of a dict holding its model inputs."""
        tower = self._tower(modality)
        return tower({k: features[k] for k in _input_names(tower)})


def named_metrics(metrics, gallery_modality, query_modality):
    """`retrieval_metrics` keys with the towers' modality names (they say
    "image" for the gallery side and "text" for the query side)."""
    names = {"image": gallery_modality, "text": query_modality}
    renamed = {}
    for key, value in metrics.items():
        source, _, rest = key.partition("_to_")
        target, _, metric = rest.partition("_")
        renamed[f"{names[source]}_to_{names[target]}_{metric}"] = value
    return renamed


def _input_names(model):
    return [t.name for t in keras.tree.flatten(model.input)]


def _check_present(present, modality):
    tf.debugging.assert_equal(
        tf.reduce_all(present),
        True,
        message=f"Every {modality} value must be non-empty (an empty query "
        "has nothing to embed).",
    )
