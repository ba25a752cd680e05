"""A deterministic multimodal dataset that is hard the way real data is hard.

Six classes, each with an identity in every modality: a shape in the image
and the video, a pitch and an on/off rhythm in the audio, a few names in
the text. Every modality is unreliable on its own, and the draws are
independent across modalities given the label, so each one is a separate
piece of evidence:

* image: the class's shape in one of six palette colours (colour says
  nothing about the class), random size and position, on a noisy
  textured background.
  55% clean, 30% degraded (strong noise, faded colour and blocks hiding
  much of the shape), 15% missing. PNG and JPEG alternate.
* audio: the class's pitch (with harmonics, a few percent of jitter) gated
  by the class's rhythm, mixed with noise at an SNR drawn uniformly from
  -12 to +15 dB. The noise is broadband hiss plus interfering tones of
  random pitch and rhythm, so at low SNR a louder tone that is not the
  class's often wins. 15% missing; 10% of the clips are written at twice
  the sample rate.
* text: 55% of captions name the true class (by one of its synonyms), 20%
  name no class, 15% name another class just as confidently, 10% missing.
  A caption that names a class also names a colour. True and neutral
  captions describe this example's picture, so a colour they name is the
  shape's; a contradicting caption was written for another picture, and
  names another colour. Alone, a lying caption looks like a true one; next
  to a visible shape of another colour it gives itself away, as a
  mismatched caption does in real data.
* video (optional): frames of the class's shape moving, with the image's
  clean/degraded/missing scheme drawn independently.

No example loses every modality: if the draws would remove all, one is
kept at random. Each record's `conditions` field tells what was drawn
(the SNR in dB for audio), so accuracy can be reported per condition.

How far each modality alone can go, counting a missing or uninformative
input as a 1/6 guess. These are estimates, not guarantees: text's is
exact, the others come from small CNNs trained on 5000-6000 examples of
one modality (more data or a better model may do a little better):

* text <= 0.55 + (0.20 + 0.10) / 6 = 0.60. No model can beat it: a
  caption naming class c is right 0.55 / (0.55 + 0.15) = 79% of the
  time, whatever it looks like.
* image ~ 0.55 * 0.97 + 0.30 * 0.4 + 0.15 / 6 = 0.68: clean images are
  easy, about 40% of the degraded ones are recognisable.
* audio ~ 0.85 * 0.86 + 0.15 / 6 = 0.76: clips above -3 dB are
  recognised over 95% of the time, 75% at -6 to -3 dB, 50% below -6 dB.

A model that fuses them can do far better than any one, when it learns
how far to trust each modality per example instead of averaging them.
"""

import json
import os
import re
import wave

import numpy as np
import tensorflow as tf

from mmkeras.data.manifest import MODALITIES
from mmkeras.data.manifest import check_modalities

LABELS = ("circle", "cross", "diamond", "ring", "square", "triangle")
SYNONYMS = {
    "circle": ("circle", "disc", "round blob"),
    "cross": ("cross", "plus sign", "crosshair"),
    "diamond": ("diamond", "rhombus", "lozenge"),
    "ring": ("ring", "hoop", "loop"),
    "square": ("square", "box", "block"),
    "triangle": ("triangle", "wedge", "pyramid"),
}
PITCHES = {  # Hz; neighbours differ by about a third, far beyond the jitter.
    "circle": 220.0,
    "cross": 300.0,
    "diamond": 410.0,
    "ring": 560.0,
    "square": 760.0,
    "triangle": 1040.0,
}
BEAT_RATES = {  # on/off cycles per second
    "circle": 2.0,
    "cross": 3.0,
    "diamond": 4.0,
    "ring": 5.0,
    "square": 6.0,
    "triangle": 8.0,
}
NAMING_TEMPLATES = (  # every one names a colour, as people describe shapes
    "a {colour} {name}",
    "a {size} {colour} {name} {place}",
    "this is a {colour} {name}",
    "there is a {name} {place}, in {colour}",
    "photo of a {size} {name}, {colour}",
    "clearly a {colour} {name}",
    "the shape is a {name}, {colour}",
    "{colour} {name} {place}",
    "look, a {colour} {name}!",
    "a {name} drawn in {colour}",
)
NEUTRAL_TEMPLATES = (
    "a picture of something {colour}",
    "a {size} {colour} thing {place}",
    "some object on a noisy background",
    "hard to say what this is",
    "a quick photo, {colour} on grey",
    "an image from the archive",
    "something {size} {place}",
    "a {colour} shape",
)
PALETTE = {  # the object colours an image may have, by caption word
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 70, 220),
    "yellow": (230, 210, 40),
    "purple": (140, 50, 180),
    "pink": (240, 130, 180),
}
COLOUR_WORDS = tuple(PALETTE)
SIZE_WORDS = ("small", "big", "tiny", "large")
PLACE_WORDS = ("near the top", "in the middle", "at the bottom", "on the left")
SPLITS = (("train", 0.7), ("validation", 0.1), ("test", 0.2))
# Per modality: (condition, probability), missing included.
IMAGE_RATES = (("clean", 0.55), ("degraded", 0.30), ("missing", 0.15))
TEXT_RATES = (
    ("true", 0.55),
    ("neutral", 0.20),
    ("contradicting", 0.15),
    ("missing", 0.10),
)
AUDIO_MISSING = 0.15
AUDIO_SNR_DB = (-12.0, 15.0)
AUDIO_DOUBLE_RATE = 0.10


def plan_dataset(num_examples, seed=0, modalities=("audio", "image", "text")):
    """Draws labels, splits and conditions without rendering any file.

    Labels are balanced and every split has every label (the 70/10/20
    split is made per class, then the order is shuffled). Each modality's
    condition is drawn from its own random stream, so the same seed gives
    the same label, split and conditions whatever other modalities are
    asked for (except when the keep-one rule kicks in).

    Args:
        num_examples: int. At least 3 per class.
        seed: int. Seed of the generator.
        modalities: tuple of str. Non-empty subset of `MODALITIES`.

    Returns:
        A list of dicts with `label`, `split`, `conditions` and `colour`
        (the shape's colour in the image and the video).

    Example:

    >>> plan = plan_dataset(18, seed=0, modalities=("text",))
    >>> len(plan), sorted(plan[0]), sorted(plan[0]["conditions"])
    (18, ['colour', 'conditions', 'label', 'split'], ['text'])
    """
    modalities = check_modalities(modalities)
    if num_examples < 3 * len(LABELS):
        raise ValueError(
            f"num_examples must be at least {3 * len(LABELS)} (3 per class, "
            f"so every split has every label), received {num_examples}."
        )
    examples = []
    for i, label in enumerate(LABELS):
        count = len(range(i, num_examples, len(LABELS)))
        examples += [(label, split) for split in _class_splits(count)]
    order = np.random.default_rng(seed).permutation(len(examples))
    plan = []
    for index, position in enumerate(order):
        label, split = examples[position]
        conditions = {
            m: _draw_condition(m, _stream(seed, index, m, "plan"))
            for m in modalities
        }
        if all(c == "missing" for c in conditions.values()):
            keep = _stream(seed, index, "keep", "plan").choice(modalities)
            conditions[keep] = _draw_condition(
                keep, _stream(seed, index, keep, "plan"), present=True
            )
        colour = str(
            _stream(seed, index, "colour", "plan").choice(COLOUR_WORDS)
        )
        plan.append(
            {
                "label": label,
                "split": split,
                "conditions": conditions,
                "colour": colour,
            }
        )
    return plan


def write_dataset(
    directory,
    num_examples=1800,
    seed=0,
    modalities=("audio", "image", "text"),
    image_size=32,
    sample_rate=8000,
    clip_seconds=0.5,
    num_frames=6,
):
    """Writes the dataset's files and a JSONL manifest; returns its path.

    One record per line: a relative path per present file modality
    (`audio/00001.wav`, `images/00001.png` or `.jpg`, `video/00001/` with
    `frame_000.png`...), `text` when a caption is present, `label`,
    `split` and `conditions`. A missing modality's field is left out.
    File numbers are manifest line numbers. The same arguments always
    write the same bytes.

    Args:
        directory: str. Created if missing.
        num_examples: int. Total number of records, at least 18.
        seed: int. Seed of the generator.
        modalities: tuple of str. Non-empty subset of `MODALITIES`.
        image_size: int. Side of the square images in pixels.
        sample_rate: int. Audio sample rate in Hz (some clips get twice).
        clip_seconds: float. Length of every audio clip.
        num_frames: int. Frames per video, at most 32x32 pixels each.

    Returns:
        str, the path of `manifest.jsonl`.

    Example:

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as directory:
    ...     path = write_dataset(directory, 18, image_size=16)
    ...     records = [json.loads(line) for line in open(path)]
    >>> len(records), sorted({r["split"] for r in records})
    (18, ['test', 'train', 'validation'])
    >>> sorted(records[0]["conditions"])
    ['audio', 'image', 'text']
    """
    if image_size < 8 or num_frames < 1 or clip_seconds <= 0:
        raise ValueError(
            "Expected image_size >= 8, num_frames >= 1 and clip_seconds > 0, "
            f"received {image_size}, {num_frames} and {clip_seconds}."
        )
    if sample_rate < 2000:
        raise ValueError(
            f"sample_rate must be at least 2000 Hz, received {sample_rate}."
        )
    plan = plan_dataset(num_examples, seed, modalities)
    os.makedirs(directory, exist_ok=True)
    folders = {"audio": "audio", "image": "images", "video": "video"}
    for modality in set(folders) & set(plan[0]["conditions"]):
        os.makedirs(os.path.join(directory, folders[modality]), exist_ok=True)
    manifest_path = os.path.join(directory, "manifest.jsonl")
    with open(manifest_path, "w", encoding="utf-8") as manifest:
        for index, example in enumerate(plan):
            record = {}
            for modality, condition in example["conditions"].items():
                if condition == "missing":
                    continue
                rng = _stream(seed, index, modality, "render")
                args = (directory, index + 1, example["label"], condition)
                if modality == "audio":
                    record["audio"] = _write_audio(
                        *args, sample_rate, clip_seconds, rng
                    )
                elif modality == "image":
                    record["image"] = _write_picture(
                        *args, image_size, example["colour"], rng
                    )
                elif modality == "video":
                    record["video"] = _write_video(
                        *args, min(image_size, 32), num_frames, rng
                    )
                else:
                    record["text"] = make_caption(
                        example["label"], condition, rng, example["colour"]
                    )
            manifest.write(json.dumps(record | example) + "\n")
    return manifest_path


def _write_audio(directory, number, label, snr_db, sample_rate, seconds, rng):
    if rng.random() < AUDIO_DOUBLE_RATE:
        sample_rate *= 2
    samples = make_sound(label, snr_db, sample_rate, seconds, rng)
    path = f"audio/{number:05d}.wav"
    with wave.open(os.path.join(directory, path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(sample_rate)
        f.writeframes(samples.astype("<i2").tobytes())
    return path


def _write_picture(directory, number, label, condition, size, colour, rng):
    pixels = draw_image(label, condition == "degraded", size, rng, colour)
    path = f"images/{number:05d}.{'png' if number % 2 else 'jpg'}"
    _write_image(os.path.join(directory, path), pixels)
    return path


def _write_video(directory, number, label, condition, size, num_frames, rng):
    frames = draw_video(label, condition == "degraded", size, num_frames, rng)
    path = f"video/{number:05d}"
    os.makedirs(os.path.join(directory, path), exist_ok=True)
    for i, frame in enumerate(frames):
        _write_image(os.path.join(directory, path, f"frame_{i:03d}.png"), frame)
    return path


def shape_mask(label, size, centre, radius):
    """Boolean `(size, size)` mask of the class's shape.

    Args:
        label: str. One of `LABELS`.
        size: int. Side of the image.
        centre: (row, col) in pixels.
        radius: float. Half the shape's extent in pixels.
    """
    rows, cols = np.mgrid[0:size, 0:size] + 0.5
    dy, dx = (rows - centre[0]) / radius, (cols - centre[1]) / radius
    distance = np.hypot(dy, dx)
    if label == "circle":
        return distance <= 0.9
    if label == "ring":
        return (distance <= 1.0) & (distance >= 0.55)
    if label == "square":
        return np.maximum(np.abs(dy), np.abs(dx)) <= 0.8
    if label == "diamond":
        return np.abs(dy) + np.abs(dx) * 1.6 <= 1.15
    if label == "cross":
        thin = np.minimum(np.abs(dy), np.abs(dx)) <= 0.3
        return thin & (np.maximum(np.abs(dy), np.abs(dx)) <= 1.0)
    if label == "triangle":  # apex up: widens towards the base
        return (dy <= 0.8) & (np.abs(dx) <= (dy + 1.0) * 0.6)
    raise ValueError(f"Unknown label {label!r}; expected one of {LABELS}.")


def draw_image(label, degraded, size, rng, colour=None):
    """uint8 `(size, size, 3)` pixels of the class's shape on a texture.

    `colour` names the shape's colour (a `PALETTE` key); None draws a
    random colour that contrasts with the background.
    """
    background = _background(size, rng)
    radius = rng.uniform(0.18, 0.32) * size
    centre = rng.uniform(radius, size - radius, 2)
    if colour is None:
        colour = _contrasting_colour(background.mean((0, 1)), rng)
    else:
        colour = np.array(PALETTE[colour], float) + rng.normal(0, 8, 3)
        background = _away_from(background, colour)
    return _render(label, background, centre, radius, colour, degraded, rng)


def draw_video(label, degraded, size, num_frames, rng):
    """uint8 `(num_frames, size, size, 3)`: the shape moving across."""
    background = _background(size, rng)
    radius = rng.uniform(0.18, 0.28) * size
    start, end = rng.uniform(radius, size - radius, (2, 2))
    colour = _contrasting_colour(background.mean((0, 1)), rng)
    steps = np.linspace(0.0, 1.0, num_frames)[:, None]
    return np.stack(
        [
            _render(label, background, centre, radius, colour, degraded, rng)
            for centre in start + steps * (end - start)
        ]
    )


def make_caption(label, condition, rng, colour=None):
    """A caption: "true" names the label, "contradicting" another class,
    "neutral" none.

    A true or neutral caption describes this example's picture: a colour it
    mentions is the shape's (`colour`, when given). A contradicting caption
    was written for another picture: the class and the colour it mentions
    are another's.
    """
    if condition == "contradicting" and colour is not None:
        colour = rng.choice([c for c in COLOUR_WORDS if c != colour])
    fillers = {
        "colour": colour or rng.choice(COLOUR_WORDS),
        "size": rng.choice(SIZE_WORDS),
        "place": rng.choice(PLACE_WORDS),
    }
    if condition == "neutral":
        return rng.choice(NEUTRAL_TEMPLATES).format(**fillers)
    if condition == "contradicting":
        label = rng.choice([other for other in LABELS if other != label])
    elif condition != "true":
        raise ValueError(
            f"Unknown caption condition {condition!r}; expected 'true', "
            "'neutral' or 'contradicting'."
        )
    name = rng.choice(SYNONYMS[label])
    return rng.choice(NAMING_TEMPLATES).format(name=name, **fillers)


def named_classes(caption):
    """The labels whose synonyms occur as whole words in `caption`."""
    return [
        label
        for label, names in SYNONYMS.items()
        if any(re.search(rf"\b{name}\b", caption) for name in names)
    ]


def make_sound(label, snr_db, sample_rate, seconds, rng):
    """int16 samples: the class's sound mixed with noise at `snr_db`."""
    time = np.arange(round(sample_rate * seconds)) / sample_rate
    pitch = PITCHES[label] * rng.uniform(0.97, 1.03)
    signal = _tone(pitch, BEAT_RATES[label], time, sample_rate, rng)
    hiss = _coloured_noise(len(time), rng)
    hiss *= np.sqrt(rng.uniform(0.3, 0.6) / np.mean(hiss**2))
    noise = hiss
    for share in rng.dirichlet((1.0, 1.0)) * (1.0 - np.mean(hiss**2)):
        other = _tone(
            np.exp(rng.uniform(np.log(180.0), np.log(1300.0))),
            rng.uniform(1.5, 9.0),
            time,
            sample_rate,
            rng,
        )
        noise = noise + other * np.sqrt(share / np.mean(other**2))
    noise *= np.sqrt(
        np.mean(signal**2) / np.mean(noise**2) / 10 ** (snr_db / 10)
    )
    mixture = signal + noise
    mixture *= rng.uniform(0.1, 0.9) / np.max(np.abs(mixture))
    return np.round(mixture * 32767).astype(np.int16)


def _tone(pitch, beat_rate, time, sample_rate, rng):
    harmonics = sum(
        amplitude * np.sin(2 * np.pi * k * pitch * time + rng.uniform(0, 6.3))
        for k, amplitude in ((1, 1.0), (2, 0.5), (3, 0.25))
        if k * pitch < sample_rate / 2
    )
    # A soft gate (no clicks): on while the slow sine is above zero. Its
    # phase is random but puts some "on" inside the clip, however short.
    on_at = rng.uniform(0.0, time[-1] + time[1])
    phase = np.pi / 2 - 2 * np.pi * beat_rate * on_at + rng.uniform(-1, 1)
    gate = np.sin(2 * np.pi * beat_rate * time + phase)
    return harmonics * np.clip(gate * 8.0, 0.0, 1.0)


def _coloured_noise(length, rng):
    # 1/f ("pink") noise: loudest at low frequencies, where the tones are.
    spectrum = rng.normal(size=length // 2 + 1) + 1j * rng.normal(
        size=length // 2 + 1
    )
    spectrum /= np.sqrt(np.arange(length // 2 + 1) + 8.0)
    return np.fft.irfft(spectrum, length)


def _background(size, rng):
    # Smooth blobs of colour (bilinear upsampling of a 4x4 grid) plus grain.
    coarse = rng.uniform(-30, 30, (4, 4, 3)) + rng.uniform(40, 215, 3)
    weights = np.stack(
        [
            np.interp(np.linspace(0, 3, size), range(4), row)
            for row in np.eye(4)
        ],
        axis=1,
    )
    return np.einsum("ij,jkc,lk->ilc", weights, coarse, weights)


def _away_from(background, colour):
    """The background, inverted if its mean is too close to `colour`."""
    if np.linalg.norm(background.mean((0, 1)) - colour) < 120:
        return 255.0 - background
    return background


def _contrasting_colour(mean, rng):
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    return np.clip(mean + direction * rng.uniform(110, 170), 0, 255)


def _render(label, background, centre, radius, colour, degraded, rng):
    size = len(background)
    pixels = background.copy()
    mask = shape_mask(label, size, centre, radius)
    if degraded:
        fade = rng.uniform(0.1, 0.3)
        colour = colour * (1 - fade) + background.mean((0, 1)) * fade
    pixels[mask] = colour
    if degraded:
        for _ in range(rng.integers(1, 3)):
            _occlude(pixels, centre, radius, rng)
    grain = rng.uniform(20, 35) if degraded else 6.0
    pixels += rng.normal(0.0, grain, pixels.shape)
    return np.clip(np.round(pixels), 0, 255).astype(np.uint8)


def _occlude(pixels, centre, radius, rng):
    # A block with one corner near the shape's centre: it hides a quarter
    # to a half of the shape, and a few together hide most of it.
    size = len(pixels)
    corner = centre + rng.uniform(-0.4, 0.4, 2) * radius
    extent = rng.uniform(0.7, 1.3, 2) * radius * rng.choice((-1, 1), 2)
    (top, bottom), (left, right) = np.sort(
        np.clip(np.round([corner, corner + extent]), 0, size).T.astype(int)
    )
    pixels[top:bottom, left:right] = rng.uniform(0, 255, 3)


def _write_image(path, pixels):
    if path.endswith(".png"):
        encoded = tf.io.encode_png(pixels)
    else:
        encoded = tf.io.encode_jpeg(pixels, quality=90)
    with open(path, "wb") as f:
        f.write(encoded.numpy())


def _class_splits(count):
    validation = max(1, round(count * SPLITS[1][1]))
    test = max(1, round(count * SPLITS[2][1]))
    train = count - validation - test
    return ["train"] * train + ["validation"] * validation + ["test"] * test


def _stream(seed, index, modality, purpose):
    # One independent stream per example, modality and purpose: a
    # modality's draws never shift when another modality is added.
    keys = (*MODALITIES, "keep", "colour")
    return np.random.default_rng(
        [seed, index, keys.index(modality), ("plan", "render").index(purpose)]
    )


def _draw_condition(modality, rng, present=False):
    missing = rng.random() < _missing_rate(modality)
    if modality == "audio":
        snr = round(float(rng.uniform(*AUDIO_SNR_DB)), 1)
        return "missing" if missing and not present else snr
    rates = IMAGE_RATES if modality in ("image", "video") else TEXT_RATES
    names = [name for name, _ in rates if name != "missing"]
    weights = np.array([p for name, p in rates if name != "missing"])
    drawn = str(rng.choice(names, p=weights / weights.sum()))
    return "missing" if missing and not present else drawn


def _missing_rate(modality):
    if modality == "audio":
        return AUDIO_MISSING
    rates = dict(IMAGE_RATES if modality in ("image", "video") else TEXT_RATES)
    return rates["missing"]
