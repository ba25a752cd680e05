"""SumMe/TVSum in the layout of vsLSTM/DR-DSN/DSNet's h5 files, as a
summarisation manifest (`mmkeras train --task video_summary`).

Those h5 files hold, per video (`video_1`, ...): `features`, `picks`,
`user_summary` (one 0/1 row per annotator over every frame),
`change_points` (`[first, last]` frame of each shot, inclusive),
`n_frames` and, in most releases, `video_name`. They hold no pixels: the
videos come from the datasets' own downloads, and each h5 key is matched
with a file by its `video_name` (or a JSON map of key to file name).

Each record gets `video`, `annotations` (the annotators' 0/1 summaries,
which the evaluation uses as they are, the SumMe/TVSum protocol), `shots`
(`[start, end)`, from `change_points`) and a `split` drawn at random.
"""

import json
import os

import numpy as np

SPLITS = (("train", 0.7), ("validation", 0.1), ("test", 0.2))


def _text(value):
    value = value[()] if hasattr(value, "shape") else value
    if isinstance(value, np.ndarray):
        value = value.item() if value.size == 1 else value.tobytes()
    return value.decode() if isinstance(value, bytes) else str(value)


def find_video(videos_dir, name):
    """The file in `videos_dir` named `name` with any extension, or None."""
    for entry in sorted(os.listdir(videos_dir)):
        stem, extension = os.path.splitext(entry)
        if entry == name or (stem == name and extension):
            return os.path.join(videos_dir, entry)
    return None


def h5_records(h5, videos_dir, name_map=None, seed=0):
    """Manifest records of an opened h5 file (an `h5py.File`).

    Args:
        h5: a mapping of video key to a group of datasets, as h5py opens.
        videos_dir: str. Where the videos are.
        name_map: dict of h5 key to video file name, or None to use each
            video's `video_name`.
        seed: int. Seeds the random split.

    Returns:
        `(records, missing)`: the records (video paths absolute), and the
        keys whose video was not found.
    """
    rng = np.random.default_rng(seed)
    keys = sorted(h5, key=lambda k: (len(k), k))
    order = rng.permutation(len(keys))
    bounds = np.cumsum([round(f * len(keys)) for _, f in SPLITS])
    records, missing = [], []
    for rank, key in zip(order, keys, strict=True):
        group = h5[key]
        if name_map is not None:
            name = name_map.get(key)
        elif "video_name" in group:
            name = _text(group["video_name"])
        else:
            name = None
        path = name and find_video(videos_dir, name)
        if not path:
            missing.append(key)
            continue
        users = np.asarray(group["user_summary"])
        frames = users.shape[1]
        record = {
            "video": os.path.abspath(path),
            "annotations": (users > 0).astype(int).tolist(),
            "split": SPLITS[int(np.searchsorted(bounds, rank, "right"))][0]
            if rank < bounds[-1]
            else SPLITS[-1][0],
            "h5_key": key,
        }
        shots = _shots(group, frames)
        if shots is not None:
            record["shots"] = shots
        records.append(record)
    return records, missing


def _shots(group, frames):
    """`[start, end)` shots from `change_points`, or None when they do not
    cut the frames into consecutive shots."""
    if "change_points" not in group:
        return None
    points = np.asarray(group["change_points"], np.int64).reshape(-1, 2)
    shots = np.stack([points[:, 0], points[:, 1] + 1], axis=1)
    shots[-1, 1] = frames
    if shots[0, 0] != 0 or np.any(shots[1:, 0] != shots[:-1, 1]):
        return None
    if np.any(shots[:, 1] <= shots[:, 0]):
        return None
    return shots.tolist()


def write_manifest(records, path):
    """Writes records as JSONL; returns `path`."""
    with open(path, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
    return path
