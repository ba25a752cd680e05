"""Reading and validating JSONL manifests of multimodal examples."""

import dataclasses
import json
import logging
import os

import tensorflow as tf

logger = logging.getLogger(__name__)

FILE_FIELDS = ("image",)
STRING_FIELDS = ("image", "text", "label", "split")


class ManifestError(ValueError):
    """A manifest record is unusable; the message names file and line."""


@dataclasses.dataclass(frozen=True)
class Record:
    """One example. `image` is an absolute path; `line` is 1-based."""

    line: int
    fields: dict

    def __getitem__(self, key):
        return self.fields[key]


@dataclasses.dataclass(frozen=True)
class SkippedRecord:
    line: int
    reason: str


@dataclasses.dataclass(frozen=True)
class Manifest:
    """The valid records of a manifest and the ones skipped, with why."""

    path: str
    records: list
    skipped: list

    def split(self, name):
        """Records whose `split` field equals `name`."""
        return [r for r in self.records if r.fields.get("split") == name]

    def labels(self):
        """Sorted distinct labels over all records."""
        return sorted({r["label"] for r in self.records})


def read_manifest(
    path, required_fields=("image", "text", "label"), on_error="raise"
):
    """Reads a JSONL manifest: one JSON object per line.

    Every record is checked: valid JSON object, each required field present
    and a non-empty string, and each file field (`image`) names a file that
    exists (paths are relative to the manifest's directory) and decodes as
    an image. Blank lines are ignored.

    Args:
        path: str. The manifest file.
        required_fields: tuple of str. Fields every record must have.
        on_error: "raise" (default) raises `ManifestError` at the first bad
            record, naming the file and line; "skip" drops bad records,
            logs a warning with their count and line numbers, and lists them
            in `Manifest.skipped`. Never silent.

    Returns:
        A `Manifest`.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(
            f"on_error must be 'raise' or 'skip', received {on_error!r}."
        )
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Manifest not found: {path}")
    base_dir = os.path.dirname(os.path.abspath(path))
    records, skipped = [], []
    with open(path, encoding="utf-8") as f:
        for line_number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                fields = _parse_record(line, required_fields, base_dir)
            except ManifestError as error:
                message = f"{path} line {line_number}: {error}"
                if on_error == "raise":
                    raise ManifestError(message) from None
                skipped.append(SkippedRecord(line_number, str(error)))
                continue
            records.append(Record(line_number, fields))
    if skipped:
        lines = ", ".join(str(s.line) for s in skipped)
        logger.warning(
            "%s: skipped %d bad records (lines %s)", path, len(skipped), lines
        )
    if not records:
        raise ManifestError(f"{path}: no valid records.")
    return Manifest(path=path, records=records, skipped=skipped)


def _parse_record(line, required_fields, base_dir):
    try:
        fields = json.loads(line)
    except json.JSONDecodeError as error:
        raise ManifestError(f"invalid JSON ({error.msg})") from None
    if not isinstance(fields, dict):
        raise ManifestError(
            f"expected a JSON object, found {type(fields).__name__}"
        )
    for name in required_fields:
        if name not in fields:
            raise ManifestError(f"missing field '{name}'")
    for name in STRING_FIELDS:
        if name in fields and not (
            isinstance(fields[name], str) and fields[name]
        ):
            raise ManifestError(
                f"field '{name}' must be a non-empty string, found "
                f"{fields[name]!r}"
            )
    for name in FILE_FIELDS:
        if name in fields:
            fields[name] = _check_image(fields[name], base_dir, name)
    return fields


def _check_image(relative_path, base_dir, field):
    full_path = os.path.join(base_dir, relative_path)
    if not os.path.isfile(full_path):
        raise ManifestError(
            f"field '{field}': file '{relative_path}' does not exist"
        )
    try:
        tf.io.decode_image(
            tf.io.read_file(full_path), channels=3, expand_animations=False
        )
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError):
        raise ManifestError(
            f"field '{field}': file '{relative_path}' is not a decodable "
            "PNG/JPEG/GIF/BMP image"
        ) from None
    return full_path
