"""Video summarisation demo data: clips of shots, some holding an event.

A clip is a sequence of shots of random length. Every shot has its own
textured background (a base colour, stripes of random frequency and
direction, fixed noise), so a cut changes the whole picture, and one of
six kinds of content, which fixes how much the simulated annotators care
about it:

- "empty": the background only (importance 0.05);
- "small": one small shape drifting (0.3);
- "large": one large shape drifting (0.55);
- "appear" (event): a second shape appears halfway (0.95);
- "collide" (event): two shapes move towards each other and meet (0.95);
- "colour" (event): a shape changes colour halfway (0.95).

Event shots are short (6-9 frames), and so are half the plain shots
(the rest 14-28), so the events fit the 15% budget together while a
random summary cannot find them by their length alone; each clip has
one or two events. Each event has a caption ("a red circle appears", "the
blue square turns yellow", "the green triangle hits the white circle").

Every clip gets one record without a query, annotated by `annotators`
simulated annotators who disagree a little (each moves each shot's score
by a few hundredths and adds frame noise), and, for a clip with two
events, one query-focused record per event: its query is the event's
caption, the queried event keeps 0.95 and the other drops to 0.35.

Clips are written as MP4 (libx264 or mpeg4 through PyAV), or as animated
GIFs when the FFmpeg build has neither encoder. Records give the clip's
true shots (`shots`, `[start, end)` frame pairs), which the evaluation
uses to turn each annotator's scores into that annotator's summary.
"""

import json
import os

import av
import numpy as np

from mmkeras.data import media

FRAME_SIZE = 64
FPS = 12
SHAPES = ("circle", "square", "triangle")
PALETTE = {
    "red": (230, 40, 40),
    "green": (40, 210, 60),
    "blue": (50, 90, 240),
    "yellow": (240, 220, 40),
    "white": (245, 245, 245),
    "magenta": (220, 50, 220),
}
IMPORTANCE = {
    "empty": 0.05,
    "small": 0.3,
    "large": 0.55,
    "appear": 0.95,
    "collide": 0.95,
    "colour": 0.95,
}
# A query-focused record: the other event matters less than the queried.
OTHER_EVENT = 0.35
EVENTS = ("appear", "collide", "colour")
PLAIN = ("empty", "small", "large")
RADII = {"small": 5, "large": 14, "event": 9}
SPLITS = {"train": 0.8, "validation": 0.08, "test": 0.12}


def clip_format():
    """ "mp4" when PyAV's FFmpeg has an MP4 encoder, else "gif"."""
    if {"libx264", "mpeg4"} & set(av.codecs_available):
        return "mp4"
    return "gif"


def _background(rng, size):
    base = rng.integers(20, 110, 3)
    angle = rng.uniform(0, np.pi)
    frequency = rng.uniform(0.15, 0.6)
    y, x = np.mgrid[0:size, 0:size]
    stripes = np.sin(frequency * (x * np.cos(angle) + y * np.sin(angle)))
    tint = rng.uniform(-1, 1, 3) * 30
    noise = rng.normal(0, 6, (size, size, 3))
    image = base + stripes[..., None] * tint + noise
    return np.clip(image, 0, 255)


def _shape_mask(shape, centre, radius, size):
    y, x = np.mgrid[0:size, 0:size]
    dy, dx = y - centre[0], x - centre[1]
    if shape == "circle":
        return dy**2 + dx**2 <= radius**2
    if shape == "square":
        return (np.abs(dy) <= radius * 0.85) & (np.abs(dx) <= radius * 0.85)
    # A triangle pointing up.
    return (dy <= radius * 0.8) & (np.abs(dx) <= (dy + radius) * 0.6)


def _path(rng, length, size, radius, start=None, end=None):
    margin = radius + 1
    start = rng.uniform(margin, size - margin, 2) if start is None else start
    end = rng.uniform(margin, size - margin, 2) if end is None else end
    steps = np.linspace(0, 1, length)[:, None]
    return start + steps * (np.asarray(end) - start)


def _objects(kind, rng, length, size):
    """Per frame, the list of (shape, colour name, centre, radius) drawn,
    and the event's caption (None for plain shots)."""
    colours = list(rng.permutation(list(PALETTE)))
    shapes = list(rng.permutation(SHAPES))
    frames = [[] for _ in range(length)]
    if kind == "empty":
        return frames, None
    if kind in ("small", "large"):
        radius = RADII[kind]
        path = _path(rng, length, size, radius)
        for t in range(length):
            frames[t].append((shapes[0], colours[0], path[t], radius))
        return frames, None
    radius = RADII["event"]
    half = length // 2
    if kind == "appear":
        path = _path(rng, length, size, radius)
        spot = rng.uniform(radius + 1, size - radius - 1, 2)
        for t in range(length):
            frames[t].append((shapes[0], colours[0], path[t], radius))
            if t >= half:
                frames[t].append((shapes[1], colours[1], spot, radius))
        return frames, f"a {colours[1]} {shapes[1]} appears"
    if kind == "colour":
        path = _path(rng, length, size, radius)
        for t in range(length):
            colour = colours[0] if t < half else colours[1]
            frames[t].append((shapes[0], colour, path[t], radius))
        return frames, f"the {colours[0]} {shapes[0]} turns {colours[1]}"
    row = rng.uniform(radius + 1, size - radius - 1)
    meet = size / 2
    left = _path(
        rng, half + 1, size, radius, (row, radius + 1), (row, meet - radius)
    )
    right = _path(
        rng,
        half + 1,
        size,
        radius,
        (row, size - radius - 2),
        (row, meet + radius),
    )
    for t in range(length):
        step = min(t, half)
        frames[t].append((shapes[0], colours[0], left[step], radius))
        frames[t].append((shapes[1], colours[1], right[step], radius))
    caption = f"the {colours[0]} {shapes[0]} hits the {colours[1]} {shapes[1]}"
    return frames, caption


def render_shot(kind, length, rng, size=FRAME_SIZE):
    """uint8 frames `(length, size, size, 3)` of one shot, and its event's
    caption (None for a plain shot)."""
    background = _background(rng, size)
    objects, caption = _objects(kind, rng, length, size)
    frames = np.empty((length, size, size, 3), np.uint8)
    for t, drawn in enumerate(objects):
        image = background.copy()
        for shape, colour, centre, radius in drawn:
            image[_shape_mask(shape, centre, radius, size)] = PALETTE[colour]
        frames[t] = image.astype(np.uint8)
    return frames, caption


def plan_clip(rng):
    """The kinds and lengths of one clip's shots."""
    num_shots = int(rng.integers(6, 10))
    num_events = int(rng.integers(1, 3))
    kinds = [str(k) for k in rng.choice(PLAIN, num_shots - num_events)]
    events = [str(e) for e in rng.choice(EVENTS, num_events, replace=False)]
    for event in events:
        kinds.insert(int(rng.integers(0, len(kinds) + 1)), event)
    # Event shots are short, and so are half the plain ones: the knapsack
    # favours short shots, so a random summary must not find events by
    # their length alone (Otani et al., 2019).
    lengths = [
        int(rng.integers(6, 10))
        if k in EVENTS or rng.random() < 0.5
        else int(rng.integers(14, 29))
        for k in kinds
    ]
    return kinds, lengths


def annotate(kinds, lengths, rng, annotators, focus=None):
    """Per-frame scores of each simulated annotator, `(annotators,
    frames)`, rounded to 3 decimals. With `focus` (a shot index), that
    event is the query's and any other event drops to `OTHER_EVENT`."""
    base = []
    for index, (kind, length) in enumerate(zip(kinds, lengths, strict=True)):
        value = IMPORTANCE[kind]
        if focus is not None and kind in EVENTS and index != focus:
            value = OTHER_EVENT
        base.append(np.full(length, value))
    base = np.concatenate(base)
    scores = []
    for _ in range(annotators):
        shifts = np.repeat(rng.normal(0, 0.05, len(kinds)), lengths)
        noise = np.convolve(
            rng.normal(0, 0.04, len(base)), np.ones(3) / 3, "same"
        )
        scores.append(np.clip(base + shifts + noise, 0, 1).round(3))
    return np.array(scores)


def write_video_summary_dataset(
    directory, num_clips=200, annotators=5, seed=0, size=FRAME_SIZE
):
    """Writes clips and `manifest.jsonl` for `--task video_summary`.

    Args:
        directory: str. Receives `clips/` and `manifest.jsonl`.
        num_clips: int. Clips over the train, validation and test splits
            (80/8/12%).
        annotators: int. Simulated annotators per record.
        seed: int. The same seed writes the same clips and scores.
        size: int. Frame side in pixels (even, for MP4's yuv420p).

    Returns:
        str, the manifest's path.
    """
    if num_clips < 3:
        raise ValueError(f"num_clips must be at least 3, received {num_clips}.")
    if annotators < 2:
        raise ValueError(
            "annotators must be at least 2 (human agreement is measured "
            f"leaving one out), received {annotators}."
        )
    rng = np.random.default_rng(seed)
    extension = clip_format()
    os.makedirs(os.path.join(directory, "clips"), exist_ok=True)
    counts = {
        "validation": max(1, round(num_clips * SPLITS["validation"])),
        "test": max(1, round(num_clips * SPLITS["test"])),
    }
    counts["train"] = num_clips - counts["validation"] - counts["test"]
    splits = [
        s for s in ("train", "validation", "test") for _ in range(counts[s])
    ]
    manifest = os.path.join(directory, "manifest.jsonl")
    with open(manifest, "w", encoding="utf-8") as out:
        for clip, split in enumerate(splits):
            kinds, lengths = plan_clip(rng)
            shots, captions = [], {}
            for index, (kind, length) in enumerate(
                zip(kinds, lengths, strict=True)
            ):
                frames, caption = render_shot(kind, length, rng, size)
                shots.append(frames)
                if caption is not None:
                    captions[index] = caption
            name = f"clips/{clip:05d}.{extension}"
            media.write_video(
                os.path.join(directory, name), np.concatenate(shots), FPS
            )
            edges = np.concatenate([[0], np.cumsum(lengths)]).tolist()
            bounds = [
                [a, b] for a, b in zip(edges[:-1], edges[1:], strict=True)
            ]
            base = {"video": name, "shots": bounds, "split": split}
            scores = annotate(kinds, lengths, rng, annotators)
            records = [{**base, "annotations": scores.tolist()}]
            if len(captions) > 1:
                for index, caption in captions.items():
                    focused = annotate(kinds, lengths, rng, annotators, index)
                    records.append(
                        {
                            **base,
                            "query": caption,
                            "annotations": focused.tolist(),
                        }
                    )
            for record in records:
                out.write(json.dumps(record) + "\n")
    return manifest
