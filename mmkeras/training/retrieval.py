"""Retrieval data: pairs from a manifest, their item ids, full-gallery
validation during `fit`, and indexing a manifest into a gallery."""

import dataclasses
import logging
import os
import shutil
import sys

import keras
import numpy as np

from mmkeras.data.manifest import ManifestError
from mmkeras.data.manifest import SkippedRecord
from mmkeras.data.manifest import read_manifest
from mmkeras.data.pipeline import raw_dataset
from mmkeras.models.gallery import Gallery
from mmkeras.models.gallery import save_gallery
from mmkeras.training.callbacks import SplitValidation
from mmkeras.training.evaluation import evaluate

logger = logging.getLogger(__name__)

TASK_FILE = "task.keras"


def read_pairs(path, modalities=None, skip_bad_records=False):
    """A retrieval manifest: records holding both modalities of a pair.

    Every record needs both modalities (e.g. `image` and `text`). The
    first modality's item id (`image_id`) groups records: records with
    the same id are one gallery item with several captions. A record
    without the field gets its file's path as id, so records that name the
    same image file are the same image. Unknown fields are ignored.

    Args:
        path: str. A JSONL manifest.
        modalities: two modality names, or None for the manifest's two.
        skip_bad_records: bool. Skip (and list) bad records instead of
            raising at the first one.

    Returns:
        A `Manifest` whose records all have the id field, which is its one
        target field.
    """
    on_error = "skip" if skip_bad_records else "raise"
    manifest = read_manifest(path, modalities, (), on_error)
    modalities = manifest.modalities
    if len(modalities) != 2:
        raise ManifestError(
            f"{path}: a retrieval manifest holds pairs of two modalities "
            f"(e.g. image and text), found {', '.join(modalities)}."
        )
    id_field = f"{modalities[0]}_id"
    records, skipped = [], list(manifest.skipped)
    for record in manifest.records:
        absent = [m for m in modalities if not record.get(m)]
        if absent:
            reason = f"a pair needs {' and '.join(modalities)}; no {absent[0]}"
            if not skip_bad_records:
                raise ManifestError(f"{path} line {record.line}: {reason}.")
            skipped.append(SkippedRecord(record.line, reason))
            continue
        item = record.get(id_field) or record[modalities[0]]
        fields = {**record.fields, id_field: str(item)}
        records.append(dataclasses.replace(record, fields=fields))
    if not records:
        raise ManifestError(f"{path}: no complete pairs.")
    return dataclasses.replace(
        manifest, records=records, skipped=skipped, target_fields=(id_field,)
    )


class RetrievalValidation(SplitValidation):
    """Full-gallery Recall@K, MRR and median rank after every epoch.

    The split's items and queries are embedded whole and ranked against
    each other; the results join the epoch's logs as `val_<metric>` (e.g.
    `val_text_to_image_r1`), as `SplitValidation` says.

    Args:
        records: list of `Record`, the validation pairs (from
            `read_pairs`).
        batch_size: int.
    """

    def measure(self):
        return evaluate(self.model, self.records, self.batch_size)


def index_manifest(
    task, manifest_path, output_dir, batch_size=64, task_file=None
):
    """Embeds a manifest's items into a gallery directory.

    Each modality of the task that the manifest has is embedded once per
    distinct item (images by `image_id` or file; captions by their text)
    and saved as a `Gallery` in `output_dir/<modality>/` as plain arrays
    (`embeddings.npy`, `ids.npy`, `paths.npy`), with a progress bar. The
    task file is copied to `output_dir/task.keras`, so a search needs
    nothing else.

    Args:
        task: a `DualEncoder`.
        manifest_path: str. A JSONL manifest; records may hold either
            modality or both.
        output_dir: str.
        batch_size: int.
        task_file: str or None. The task's `.keras` file, to copy.

    Returns:
        dict of modality to its `Gallery`.
    """
    manifest = read_manifest(manifest_path, None, ())
    modalities = [m for m in task.modalities if m in manifest.modalities]
    if not modalities:
        raise ManifestError(
            f"{manifest_path} has no {' or '.join(task.modalities)} field, "
            "so there is nothing for this model to index."
        )
    os.makedirs(output_dir, exist_ok=True)
    galleries = {}
    for modality in modalities:
        items = _distinct_items(manifest.records, modality)
        embeddings = _embed_items(task, modality, items, batch_size)
        galleries[modality] = Gallery(
            modality=modality,
            embeddings=embeddings,
            ids=np.array([item_id for item_id, _, _ in items]),
            paths=np.array([shown for _, shown, _ in items]),
            model=os.path.join(output_dir, TASK_FILE),
        )
        save_gallery(galleries[modality], os.path.join(output_dir, modality))
    if task_file:
        shutil.copyfile(task_file, os.path.join(output_dir, TASK_FILE))
    else:
        task.save(os.path.join(output_dir, TASK_FILE))
    return galleries


def _distinct_items(records, modality):
    """`(id, shown path or text, record)` per distinct item, in order."""
    items = {}
    for record in records:
        value = record.get(modality)
        if not value:
            continue
        item_id = record.get(f"{modality}_id") or value
        items.setdefault(str(item_id), (str(item_id), value, record))
    return list(items.values())


def _embed_items(task, modality, items, batch_size):
    records = [record for _, _, record in items]
    batches = raw_dataset(records, (modality,), target_fields=())
    # A bar on a terminal; in a log, one line at the end.
    progress = keras.utils.Progbar(
        len(records),
        verbose=1 if sys.stdout.isatty() else 2,
        unit_name=modality,
    )
    embedded = []
    for batch in batches.padded_batch(batch_size).as_numpy_iterator():
        embedded.append(np.asarray(task.embed(modality, batch[modality])))
        progress.add(len(batch[modality]))
    return np.concatenate(embedded).astype(np.float32)
