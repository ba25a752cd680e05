"""Querying a served mmkeras model with raw inputs over gRPC."""

from mmkeras.export.saved_model import SIGNATURE_NAME
from mmkeras.export.warmup import raw_array


def request_inputs(raw):
    """numpy request tensors from a batch of raw values.

    Args:
        raw: dict of modality to a sequence of raw values: bytes or str
            per example, and for `video` a sequence of encoded frames per
            example (clips of different lengths are padded with b"").

    Returns:
        dict of modality to a numpy object array: `(batch,)`, or `(batch,
        frames)` for video.
    """
    return {modality: raw_array(values) for modality, values in raw.items()}


def served_modalities(client, model_name):
    """The raw inputs (modalities) of a served model's `serving_default`."""
    signatures = client.metadata(model_name)
    return sorted(signatures[SIGNATURE_NAME]["inputs"])


def predict_raw(client, model_name, raw):
    """Sends a batch of raw values; returns the response's numpy arrays.

    Modalities the model reads but `raw` lacks are sent empty (missing).
    """
    return client.predict(model_name, request_inputs(raw))
