"""Reading and validating JSONL manifests of multimodal examples.

A manifest is a JSONL file, one example per line:

    {"image": "images/1.png", "text": "a red circle", "label": "circle"}
    {"audio": "audio/2.wav", "video": "clips/2.mp4", "label": "square",
     "split": "train"}

Modality fields are optional per record (at least one must be present);
the target fields are required. Files are validated from their headers
only; their pixels and samples are decoded once, later, in `tf.data`.
"""

import dataclasses
import json
import logging
import os

from mmkeras.data import media

logger = logging.getLogger(__name__)

MODALITIES = ("audio", "image", "text", "video")
# The split name of records without a `split` field.
NO_SPLIT = "unsplit"
_CLIP_NAMES = "a GIF or an MP4/WebM/MKV/MOV/AVI clip"
_MAX_LISTED_LINES = 20
_KIND_NAMES = {"string": "string", "numbers": "list of numbers"}


class ManifestError(ValueError):
    """A manifest record is unusable; the message names file and line."""


@dataclasses.dataclass(frozen=True)
class Record:
    """One example of a manifest.

    Args:
        line: int. 1-based line number in the manifest.
        fields: dict. The record's JSON object. Requested modalities that
            the record leaves out are absent; file fields (`image`,
            `audio`, `video`) hold absolute paths. Other fields are kept
            as written.
    """

    line: int
    fields: dict

    def __getitem__(self, key):
        return self.fields[key]

    def get(self, key, default=None):
        """The field `key`, or `default` when the record has none."""
        return self.fields.get(key, default)


@dataclasses.dataclass(frozen=True)
class SkippedRecord:
    """A record dropped by `on_error="skip"`: its line and the reason."""

    line: int
    reason: str


@dataclasses.dataclass(frozen=True)
class Manifest:
    """The valid records of a manifest, the ones skipped, and its schema.

    Args:
        path: str. The manifest file.
        records: list of `Record`.
        skipped: list of `SkippedRecord`.
        modalities: tuple of str. The modalities read, sorted.
        target_fields: tuple of str. The target fields every record has.
        max_video_frames: int or None. Frames kept per video when the
            manifest is packed or read (see `pack`).
    """

    path: str
    records: list
    skipped: list
    modalities: tuple
    target_fields: tuple
    max_video_frames: int = None

    def split(self, name):
        """Records whose `split` field is `name`.

        Records without a `split` field belong to the split `"unsplit"`;
        `name=None` returns every record.
        """
        if name is None:
            return list(self.records)
        return [r for r in self.records if r.get("split", NO_SPLIT) == name]

    def splits(self):
        """Sorted names of the splits that have records."""
        return sorted({r.get("split", NO_SPLIT) for r in self.records})

    def labels(self, field="label"):
        """Sorted distinct values of a string target field."""
        if field not in self.target_fields:
            raise ValueError(
                f"labels come from a target field; {field!r} is not one of "
                f"{self.target_fields}."
            )
        values = {r[field] for r in self.records if isinstance(r[field], str)}
        if len(values) == 0:
            raise ValueError(
                f"field {field!r} holds lists of numbers, not string labels."
            )
        return sorted(values)

    def describe_skipped(self):
        """One line per skipped record, "line N: reason"; "" if none."""
        return "\n".join(f"line {s.line}: {s.reason}" for s in self.skipped)


def read_manifest(
    path,
    modalities=None,
    target_fields=("label",),
    on_error="raise",
    max_video_frames=None,
):
    """Reads and validates a JSONL manifest: one JSON object per line.

    Blank lines are ignored; paths are relative to the manifest's folder;
    unknown fields are kept and ignored. Every record is checked without
    decoding any pixel or sample:

    - a modality field may be left out, `null`, or `""`: that modality is
      missing for the record, but each record needs at least one;
    - `text`: a string;
    - `image`: a PNG, JPEG, GIF or BMP file (its header is parsed);
    - `audio`: a 16-bit PCM WAV file (its header is parsed; any sample
      rate, the model resamples);
    - `video`: a folder of frame images (sorted by name, at least one),
      an animated GIF, or an MP4/WebM/MKV/MOV/AVI clip with a video
      stream (opened with PyAV, not decoded);
    - each target field: a non-empty string (a label) or a non-empty list
      of numbers, of the same kind in every record;
    - `split`, if given: a non-empty string.

    Args:
        path: str. The manifest file.
        modalities: tuple of str from `MODALITIES`, or None to read every
            modality that some record has.
        target_fields: tuple of str. Fields every record must have; `()`
            for tasks without targets.
        on_error: "raise" (default) raises `ManifestError` at the first bad
            record, naming the file and line; "skip" drops bad records,
            logs a warning with their count and lines, and lists them in
            `Manifest.skipped`. Never silent.
        max_video_frames: int or None. Remembered as
            `Manifest.max_video_frames` for packing and reading.

    Returns:
        A `Manifest`.

    Raises:
        FileNotFoundError: no file at `path`.
        ManifestError: a bad record (with "raise"), or no valid record.

    Example:
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with open(os.path.join(folder, "m.jsonl"), "w") as f:
    ...     _ = f.write('{"text": "hello", "label": "greeting"}\\n')
    ...     _ = f.write('{"text": "bye", "image": null, "label": "end"}\\n')
    >>> manifest = read_manifest(os.path.join(folder, "m.jsonl"))
    >>> manifest.modalities, manifest.labels()
    (('text',), ['end', 'greeting'])
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(
            f"on_error must be 'raise' or 'skip', received {on_error!r}."
        )
    if max_video_frames is not None and max_video_frames < 1:
        raise ValueError(
            "max_video_frames must be positive or None, received "
            f"{max_video_frames}."
        )
    target_fields = tuple(target_fields)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Manifest not found: {path}")
    lines = _parse_lines(path)
    if modalities is None:
        modalities = _present_modalities(lines, path)
    modalities = check_modalities(modalities)
    checker = _RecordChecker(
        os.path.dirname(os.path.abspath(path)), modalities, target_fields
    )
    records, skipped = [], []
    for line_number, fields in lines:
        try:
            if isinstance(fields, ManifestError):
                raise fields
            records.append(Record(line_number, checker.check(fields)))
        except ManifestError as error:
            if on_error == "raise":
                raise ManifestError(
                    f"{path} line {line_number}: {error}"
                ) from None
            skipped.append(SkippedRecord(line_number, str(error)))
    if skipped:
        listed = ", ".join(str(s.line) for s in skipped[:_MAX_LISTED_LINES])
        if len(skipped) > _MAX_LISTED_LINES:
            listed += ", ..."
        logger.warning(
            "%s: skipped %d bad records (lines %s)", path, len(skipped), listed
        )
    if not records:
        raise ManifestError(f"{path}: no valid records.")
    return Manifest(
        path=path,
        records=records,
        skipped=skipped,
        modalities=modalities,
        target_fields=target_fields,
        max_video_frames=max_video_frames,
    )


def _parse_lines(path):
    """`(line number, dict or ManifestError)` for each non-blank line."""
    lines = []
    with open(path, "rb") as file:
        for line_number, raw in enumerate(file, start=1):
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                lines.append((line_number, ManifestError("not UTF-8 text")))
                continue
            if not text.strip():
                continue
            try:
                fields = json.loads(text)
            except json.JSONDecodeError as error:
                fields = ManifestError(f"invalid JSON ({error.msg})")
            if not isinstance(fields, (dict, ManifestError)):
                fields = ManifestError(
                    f"expected a JSON object, found {_kind(fields)}"
                )
            lines.append((line_number, fields))
    return lines


def _present_modalities(lines, path):
    present = {
        name
        for _, fields in lines
        if isinstance(fields, dict)
        for name in MODALITIES
        if _is_present(fields.get(name))
    }
    if not present:
        raise ManifestError(
            f"{path}: no record has any of the modality fields {MODALITIES}."
        )
    return tuple(sorted(present))


def check_modalities(modalities):
    """Sorted tuple of distinct modality names; ValueError if unknown."""
    if isinstance(modalities, str):
        modalities = (modalities,)
    unknown = sorted(set(modalities) - set(MODALITIES))
    if unknown or not modalities:
        raise ValueError(
            f"modalities must be a non-empty subset of {MODALITIES}, "
            f"received {tuple(modalities)}."
        )
    return tuple(sorted(set(modalities)))


def _is_present(value):
    return value is not None and value != ""


def _kind(value):
    """The JSON name of a value's type, for error messages."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if value is None:
        return "null"
    return "object"


def _target_kind(value):
    """The kind of a target value: "string", "numbers" or None (bad)."""
    if isinstance(value, str) and value:
        return "string"
    if (
        isinstance(value, list)
        and value
        and all(
            isinstance(v, (int, float)) and not isinstance(v, bool)
            for v in value
        )
    ):
        return "numbers"
    return None


class _RecordChecker:
    """Validates records against one schema; the first record of a
    target field fixes its kind (string or numbers) for the rest."""

    def __init__(self, base_dir, modalities, target_fields):
        self.base_dir = base_dir
        self.modalities = modalities
        self.target_fields = target_fields
        self.target_kinds = {}

    def check(self, fields):
        fields = dict(fields)
        kinds = {
            name: self._check_target(fields, name)
            for name in self.target_fields
        }
        if fields.get("split") is None:
            fields.pop("split", None)
        elif not (isinstance(fields["split"], str) and fields["split"]):
            raise ManifestError(
                "field 'split' must be a non-empty string, found "
                f"{fields['split']!r}"
            )
        present = [m for m in self.modalities if _is_present(fields.get(m))]
        if not present:
            raise ManifestError(
                "no modality: a record needs at least one of the fields "
                f"{self.modalities}"
            )
        for name in self.modalities:
            if name not in present:
                fields.pop(name, None)
            elif name == "text":
                if not isinstance(fields[name], str):
                    raise ManifestError(
                        "field 'text' must be a string, found "
                        f"{_kind(fields[name])} {fields[name]!r}"
                    )
            else:
                fields[name] = self._check_file(name, fields[name])
        self.target_kinds.update(kinds)
        return fields

    def _check_target(self, fields, name):
        if name not in fields:
            raise ManifestError(f"missing field '{name}'")
        value = fields[name]
        kind = _target_kind(value)
        if kind is None:
            raise ManifestError(
                f"field '{name}' must be a non-empty string or a non-empty "
                f"list of numbers, found {_kind(value)} {value!r}"
            )
        expected = self.target_kinds.get(name, kind)
        if kind != expected:
            raise ManifestError(
                f"field '{name}' is a {_KIND_NAMES[kind]} here but a "
                f"{_KIND_NAMES[expected]} in the records before"
            )
        return kind

    def _check_file(self, name, value):
        if not isinstance(value, str):
            raise ManifestError(
                f"field '{name}' must be a path string, found "
                f"{_kind(value)} {value!r}"
            )
        path = os.path.normpath(os.path.join(self.base_dir, value))
        if not os.path.exists(path):
            raise ManifestError(
                f"field '{name}': file '{value}' does not exist"
            )
        try:
            if name == "video":
                _check_video(path)
            elif os.path.isdir(path):
                raise media.MediaError("a folder, not a file")
            elif name == "image":
                media.image_size(path)
            else:
                media.check_wav(path)
        except (media.MediaError, OSError) as error:
            what = "folder" if os.path.isdir(path) else "file"
            raise ManifestError(
                f"field '{name}': {what} '{value}': {error}"
            ) from None
        return path


def _check_video(path):
    if os.path.isdir(path):
        if not media.list_frame_files(path):
            raise media.MediaError("no frame images (PNG/JPEG/BMP/GIF)")
        return
    extension = os.path.splitext(path)[1].lower()
    if extension not in media.CLIP_EXTENSIONS:
        raise media.MediaError(
            f"expected a folder of frame images, {_CLIP_NAMES}"
        )
    media.clip_info(path)
