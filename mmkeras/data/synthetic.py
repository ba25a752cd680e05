"""A deterministic image-caption dataset written as real files.

Each image shows one shape (circle, square or triangle) in one colour at
one of five positions, on a noisy light background. Its caption gives the
colour and position, which the image shows too, and the sound the object
makes ("beeps" or "hums"), which only the caption carries. The caption
never names the shape.

The label is shape and sound, e.g. `circle_beeps`: six balanced classes.
Neither modality alone can solve it: the image alone tops out at 1/2
(the sound is a coin flip) and the text alone at 1/3 (the shape is
unknown), so a model reaches high accuracy only by fusing both.
"""

import json
import os

import numpy as np
import tensorflow as tf

SHAPES = ("circle", "square", "triangle")
COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 170, 40),
    "blue": (30, 60, 220),
    "yellow": (230, 200, 20),
}
POSITIONS = {
    "top left": (0.3, 0.3),
    "top right": (0.3, 0.7),
    "bottom left": (0.7, 0.3),
    "bottom right": (0.7, 0.7),
    "centre": (0.5, 0.5),
}
SOUNDS = ("beeps", "hums")
LABELS = tuple(f"{shape}_{sound}" for shape in SHAPES for sound in SOUNDS)
TEMPLATES = (
    "a {colour} object in the {position} that {sound}",
    "there is a {colour} thing at the {position}; it {sound}",
    "the picture shows something {colour} near the {position} which {sound}",
    "{position}: one {colour} item, it {sound} loudly",
    "a small {colour} drawing placed {position} that {sound} all day",
)
SPLITS = (("train", 0.7), ("validation", 0.1), ("test", 0.2))


def draw_shape(shape, colour, position, image_size, rng):
    """Returns uint8 pixels `(image_size, image_size, 3)` with one shape."""
    background = rng.integers(200, 256)
    noise = rng.normal(0.0, 6.0, (image_size, image_size, 3))
    pixels = np.clip(background + noise, 0, 255)
    row, col = (np.array(POSITIONS[position]) * image_size).tolist()
    row += rng.uniform(-2, 2)
    col += rng.uniform(-2, 2)
    radius = rng.uniform(0.2, 0.26) * image_size
    ys, xs = np.mgrid[0:image_size, 0:image_size] + 0.5
    dy, dx = ys - row, xs - col
    if shape == "circle":
        inside = dy**2 + dx**2 <= radius**2
    elif shape == "square":
        half = radius * 0.85
        inside = (np.abs(dy) <= half) & (np.abs(dx) <= half)
    elif shape == "triangle":
        # Apex up: inside when below the apex and within the widening sides.
        depth = dy + radius
        inside = (
            (depth >= 0) & (dy <= radius * 0.8) & (np.abs(dx) <= depth * 0.6)
        )
    else:
        raise ValueError(f"Unknown shape {shape!r}; expected one of {SHAPES}.")
    pixels[inside] = COLOURS[colour]
    return pixels.astype(np.uint8)


def make_caption(colour, position, sound, rng):
    """A caption with the colour, position and sound, never the shape."""
    template = TEMPLATES[rng.integers(len(TEMPLATES))]
    return template.format(colour=colour, position=position, sound=sound)


def _split_of(index, num_examples):
    boundary = 0.0
    for name, fraction in SPLITS:
        boundary += fraction
        if index < round(boundary * num_examples):
            return name
    return SPLITS[-1][0]


def write_dataset(directory, num_examples=1800, image_size=64, seed=0):
    """Writes images, captions and a JSONL manifest; returns its path.

    Images alternate between PNG and JPEG. Labels are balanced and the
    order is shuffled before the 70/10/20 train/validation/test split, so
    every split has every label. The same arguments always write the same
    bytes.

    Args:
        directory: str. Created if missing; gets `manifest.jsonl` and
            `images/`.
        num_examples: int. Total number of records.
        image_size: int. Side of the square images in pixels.
        seed: int. Seed of the generator.

    Returns:
        str, the path of `manifest.jsonl`.
    """
    if num_examples < len(LABELS):
        raise ValueError(f"num_examples must be >= {len(LABELS)}.")
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(directory, "images"), exist_ok=True)
    labels = [LABELS[i % len(LABELS)] for i in range(num_examples)]
    rng.shuffle(labels)
    manifest_path = os.path.join(directory, "manifest.jsonl")
    with open(manifest_path, "w", encoding="utf-8") as manifest:
        for index, label in enumerate(labels):
            record = _write_example(directory, index, label, image_size, rng)
            record["split"] = _split_of(index, num_examples)
            manifest.write(json.dumps(record) + "\n")
    return manifest_path


def _write_example(directory, index, label, image_size, rng):
    shape, sound = label.split("_")
    colour = list(COLOURS)[rng.integers(len(COLOURS))]
    position = list(POSITIONS)[rng.integers(len(POSITIONS))]
    pixels = draw_shape(shape, colour, position, image_size, rng)
    if index % 2:
        relative_path = f"images/{index:05d}.jpg"
        encoded = tf.io.encode_jpeg(pixels, quality=92)
    else:
        relative_path = f"images/{index:05d}.png"
        encoded = tf.io.encode_png(pixels)
    tf.io.write_file(os.path.join(directory, relative_path), encoded)
    return {
        "image": relative_path,
        "text": make_caption(colour, position, sound, rng),
        "label": label,
    }
