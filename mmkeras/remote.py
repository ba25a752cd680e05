"""Querying a served image-text classifier with raw inputs over gRPC."""

import numpy as np

from mmkeras.export.saved_model import INPUT_IMAGE
from mmkeras.export.saved_model import INPUT_TEXT
from mmkeras.export.saved_model import OUTPUT_CLASS_IDS
from mmkeras.export.saved_model import OUTPUT_MODALITY_WEIGHTS
from mmkeras.export.saved_model import OUTPUT_PROBABILITIES


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def predict_raw(client, model_name, images, texts):
    """Sends encoded images and captions; returns the response arrays.

    Args:
        client: a `serving.client.PredictionClient`.
        model_name: str.
        images: list of bytes (encoded PNG/JPEG).
        texts: list of str.

    Returns:
        dict with `probabilities`, `class_ids` and `modality_weights`.
    """
    if len(images) != len(texts):
        raise ValueError(
            f"Got {len(images)} images but {len(texts)} texts; they pair up."
        )
    return client.predict(
        model_name,
        {
            INPUT_IMAGE: np.array(images, dtype=object),
            INPUT_TEXT: np.array(texts, dtype=object),
        },
    )


def predict_records(client, model_name, records, batch_size=32):
    """Predicts every manifest record through the server, in batches.

    Returns:
        dict of numpy arrays concatenated over all records, in order.
    """
    outputs = {
        OUTPUT_PROBABILITIES: [],
        OUTPUT_CLASS_IDS: [],
        OUTPUT_MODALITY_WEIGHTS: [],
    }
    for start in range(0, len(records), batch_size):
        batch = records[start : start + batch_size]
        response = predict_raw(
            client,
            model_name,
            [read_bytes(r["image"]) for r in batch],
            [r["text"] for r in batch],
        )
        for key in outputs:
            outputs[key].append(response[key])
    return {k: np.concatenate(v) for k, v in outputs.items()}
