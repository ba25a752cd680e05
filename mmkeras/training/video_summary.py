"""Video summarisation data and training (`--task video_summary`).

A manifest record (JSONL, one per line):

    {"video": "clips/1.mp4", "annotations": [[0.1, 0.1, 0.9, ...], ...],
     "query": "the red ball falls", "split": "train"}

- `video`: an MP4/WebM/MKV/MOV/AVI clip, an animated GIF or a folder of
  frame images (all of one size);
- `annotations`: one list of per-frame importance scores per annotator,
  all equally long and spanning the clip, at the clip's frame rate or at
  an explicit `fps` (the annotated frames are aligned with the clip by
  their place in time). 0/1 lists are annotators' own summaries (SumMe);
  other scores (TVSum's 1-5) are scaled to [0, 1] per annotator unless
  they already lie in [0, 1];
- `query` (optional): the text a query-focused summary is about;
- `shots` (optional): the clip's shots as `[start, end)` pairs of
  annotated frames, over which annotators' scores become their
  summaries (without it, the model's KTS shots are used);
- `split`: "train", "validation", "test".
"""

import dataclasses
import json
import os

import numpy as np

from mmkeras.data import media
from mmkeras.data.manifest import ManifestError
from mmkeras.data.manifest import Record
from mmkeras.data.manifest import SkippedRecord
from mmkeras.data.manifest import read_manifest
from mmkeras.preprocessing.video_summary_preprocessor import IMPORTANCE_FIELD
from mmkeras.preprocessing.video_summary_preprocessor import TARGET_FIELD


@dataclasses.dataclass
class SummarySource:
    """The valid records of a summarisation manifest, by split.

    Each record has `video` (an absolute path), `text` (the query, "" if
    none), `importance` (the annotators' mean, per annotated frame) and
    `summary_target` (JSON of the scaled annotations and shots).
    """

    path: str
    records: list
    skipped: list

    @property
    def modalities(self):
        """("text", "video") when a training record has a query, else
        ("video",): a model without queries needs no text encoder."""
        queries = any(r["text"].strip() for r in self.split("train"))
        return ("text", "video") if queries else ("video",)

    def split(self, name):
        return [r for r in self.records if r.get("split") == name]


def read_summary_manifest(path, skip_bad_records=False):
    """Reads and checks a summarisation manifest (see the module doc).

    Raises:
        ManifestError: a bad record (unless `skip_bad_records`), naming
            the file, the line and the field.
    """
    on_error = "skip" if skip_bad_records else "raise"
    manifest = read_manifest(
        path, modalities=("video",), target_fields=(), on_error=on_error
    )
    records, skipped = [], list(manifest.skipped)
    for record in manifest.records:
        try:
            records.append(Record(record.line, summary_fields(record.fields)))
        except ManifestError as error:
            if not skip_bad_records:
                raise ManifestError(
                    f"{path} line {record.line}: {error}"
                ) from None
            skipped.append(SkippedRecord(record.line, str(error)))
    if not records:
        raise ManifestError(f"{path}: no valid records.")
    return SummarySource(path, records, skipped)


def summary_fields(fields):
    """A record's fields with its targets derived; ManifestError if bad."""
    fields = dict(fields)
    annotations = _annotations(fields.get("annotations"))
    length = annotations.shape[1]
    fps = fields.get("fps")
    if fps is not None and (
        isinstance(fps, bool) or not isinstance(fps, (int, float)) or fps <= 0
    ):
        raise ManifestError(
            f"field 'fps' must be a positive number, found {fps!r}"
        )
    query = fields.get("query")
    if query is not None and not isinstance(query, str):
        raise ManifestError(f"field 'query' must be a string, found {query!r}")
    shots = fields.get("shots")
    if shots is not None:
        shots = _shots(shots, length)
    if os.path.isdir(fields["video"]):
        _check_frame_sizes(fields["video"])
    fields["text"] = query or ""
    fields[IMPORTANCE_FIELD] = annotations.mean(axis=0).round(4).tolist()
    fields[TARGET_FIELD] = json.dumps(
        {"annotations": annotations.round(4).tolist(), "shots": shots}
    )
    return fields


def _annotations(value):
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(row, list) and row for row in value)
    ):
        raise ManifestError(
            "field 'annotations' must be a non-empty list of per-frame "
            "score lists, one per annotator"
        )
    lengths = sorted({len(row) for row in value})
    if len(lengths) > 1:
        raise ManifestError(
            f"field 'annotations': annotators give {lengths[0]} to "
            f"{lengths[-1]} frame scores; each must score every frame"
        )
    try:
        scores = np.array(value, np.float64)
    except (TypeError, ValueError):
        raise ManifestError(
            "field 'annotations' must hold numbers only"
        ) from None
    if not np.all(np.isfinite(scores)):
        raise ManifestError("field 'annotations' holds a non-finite score")
    if scores.min() >= 0 and scores.max() <= 1:
        return scores
    low = scores.min(axis=1, keepdims=True)
    spread = scores.max(axis=1, keepdims=True) - low
    return np.where(spread > 0, (scores - low) / np.maximum(spread, 1e-12), 0.5)


def _shots(value, length):
    try:
        shots = np.array(value, np.int64).reshape(-1, 2)
    except (TypeError, ValueError):
        raise ManifestError(
            "field 'shots' must be a list of [start, end] frame pairs"
        ) from None
    if (
        not len(shots)
        or np.any(shots[:, 0] >= shots[:, 1])
        or shots[0, 0] != 0
        or shots[-1, 1] != length
        or np.any(shots[1:, 0] != shots[:-1, 1])
    ):
        raise ManifestError(
            f"field 'shots' must cut the {length} annotated frames into "
            f"consecutive [start, end) pairs from 0 to {length}, found "
            f"{value!r:.80}"
        )
    return shots.tolist()


def _check_frame_sizes(folder):
    """Every frame's header is read (not only the frames a model samples),
    as the served signature reads every frame's."""
    files = media.list_frame_files(folder)
    first = _frame_size(folder, files[0])
    for path in files[1:]:
        size = _frame_size(folder, path)
        if size != first:
            raise ManifestError(
                f"field 'video': frames of different sizes in "
                f"'{folder}': {os.path.basename(files[0])} is "
                f"{first[0]}x{first[1]}, {os.path.basename(path)} is "
                f"{size[0]}x{size[1]}"
            )


def _frame_size(folder, path):
    try:
        return media.image_size(path)
    except media.MediaError as error:
        raise ManifestError(
            f"field 'video': frame {os.path.basename(path)} in '{folder}' "
            f"cannot be read: {error}"
        ) from None
