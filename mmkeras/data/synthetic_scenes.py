"""Image-text retrieval demo data that is hard the way real captions are hard.

Each image is a small scene: one to three objects on a dark, mildly noisy
background, each in its own cell of a 2x2 grid. An object has four
attributes: a shape (circle, square, triangle, cross), a colour (eight,
well apart from each other and from the background), a size (small or
large, radius about 5 or 9 pixels at 48x48) and a position (its cell;
the centre is jittered by up to 1.5 pixels).

Captions are worded the way people describe the same picture
differently: eight templates ("a large red circle in the top left and a
small blue square at the bottom right", "bottom right: small blue box;
top left: big red disc", "a picture of a big disc in red on the left at
the top ..."), synonyms for shapes, sizes, colours and positions, and the
objects in random order. Every caption names every attribute of every
object, so it identifies its scene exactly, and `parse_caption` reads
the scene back.

Why it is hard: no single attribute identifies an image. Scenes come in
families of five, a base scene and four variants, each variant changing
one attribute of one object: a colour, a shape, a size, or moving an
object to an empty cell. A family changes two kinds of attribute, two
variants each (of one object when it has two alternatives, so the two
variants differ from each other in that one attribute too), and the six
pairs of kinds take turns, so every kind is changed about equally often
(a variant that would repeat a planned scene gives way to another). A
gallery made of whole families gives every image at least one distractor
that differs in one attribute only; the base has four, in two kinds. A
model that matches captions by a bag of words, or binds a colour to the
wrong object, ranks those distractors as high as the right image. With
the defaults, each test image has on average 3.1 (min 1) one-attribute
neighbours among the 1000 test images (`one_attribute_neighbours`), and
each training image 9.8 (min 2) among the 8000 training images.

Every scene is written once, no scene appears twice in a data set (not
even across splits, so test scenes are unseen in training), and families
never cross splits. The same seed writes the same bytes.
"""

import collections
import dataclasses
import itertools
import json
import os

import numpy as np

from mmkeras.data import synthetic

SHAPES = ("circle", "square", "triangle", "cross")
# The synthetic palette plus two; the closest pair (blue, purple) is
# still about 110 apart in RGB, and every colour is far from dark grey.
PALETTE = {**synthetic.PALETTE, "cyan": (40, 200, 215), "white": (240,) * 3}
COLOURS = tuple(PALETTE)
SIZES = ("small", "large")
POSITIONS = ("top left", "top right", "bottom left", "bottom right")
ATTRIBUTES = ("colour", "shape", "size", "position")
SPLITS = ("train", "validation", "test")
DEFAULT_IMAGE_SIZE = 48
FAMILY_SIZE = 5
# Caption words per attribute value. A position is named by its row word
# and its column word, in either order.
SHAPE_WORDS = {
    "circle": ("circle", "disc", "round dot"),
    "square": ("square", "box", "block"),
    "triangle": ("triangle", "wedge"),
    "cross": ("cross", "plus sign"),
}
COLOUR_WORDS = {colour: (colour,) for colour in COLOURS} | {
    "purple": ("purple", "violet")
}
SIZE_WORDS = {"small": ("small", "little", "tiny"), "large": ("large", "big")}
ROW_WORDS = {"top": ("top", "upper"), "bottom": ("bottom", "lower")}
COLUMN_WORDS = {"left": ("left",), "right": ("right",)}
# {row} and {column} are filled with synonyms, {edge} with top or bottom.
WHERE_PHRASES = (
    "in the {row} {column}",
    "at the {row} {column}",
    "in the {row} {column} corner",
    "on the {column} at the {edge}",  # "at the upper" is not English
)
PLACE_PHRASES = ("{row} {column}", "{row} {column} corner")
# (frame, object phrase, joiner): "and" joins "x, y and z", ";" "x; y".
TEMPLATES = (
    ("{}", "a {size} {colour} {shape} {where}", "and"),
    ("{}", "{place}: {size} {colour} {shape}", ";"),
    ("there is {}", "a {size} {colour} {shape} {where}", "and"),
    ("{}", "{where} a {size} {colour} {shape}", "and"),
    ("a picture of {}", "a {size} {shape} in {colour} {where}", "and"),
    ("this image shows {}", "a {colour} {shape} {where} that is {size}", "and"),
    ("we see {}", "a {colour} {size} {shape} {where}", "and"),
    ("{}", "{size} {colour} {shape} {where}", "with"),
)
# Radii and jitter as fractions of a cell's side: 5, 9 and 1.5 pixels at
# 48x48. The jitter keeps the cell's centre pixel inside every shape, and
# a large shape inside its cell.
RADII = {"small": 0.21, "large": 0.38}
JITTER = 0.0625
MIN_IMAGE_SIZE = 24


@dataclasses.dataclass(frozen=True, order=True)
class SceneObject:
    """One object of a scene.

    Args:
        position: str. Its cell, one of `POSITIONS`; the object's key.
        shape: str. One of `SHAPES`.
        colour: str. One of `COLOURS`.
        size: str. One of `SIZES`.
    """

    position: str
    shape: str
    colour: str
    size: str


@dataclasses.dataclass(frozen=True)
class Scene:
    """A scene: its objects and where it comes from.

    Args:
        objects: tuple of `SceneObject`, sorted, in distinct positions.
        family: int. The family's number; the base comes first.
        changed: str or None. The attribute (one of `ATTRIBUTES`) this
            variant changes from its family's base; None for the base.
    """

    objects: tuple
    family: int
    changed: str | None = None


@dataclasses.dataclass(frozen=True)
class RetrievalSummary:
    """What `write_retrieval_dataset` wrote.

    Args:
        manifest_path: str. The JSONL manifest.
        num_images: dict. Images per split.
        num_records: dict. Manifest records (image, caption) per split.
        num_families: dict. Families per split.
    """

    manifest_path: str
    num_images: dict
    num_records: dict
    num_families: dict


def one_attribute_variants(objects):
    """Every scene that differs from `objects` in exactly one attribute.

    Args:
        objects: tuple of `SceneObject`, sorted.

    Returns:
        A list of `(attribute, objects)`: for each object, each other
        colour, shape and size, and each move to an empty cell.

    Example:
    >>> scene = (SceneObject("top left", "circle", "red", "small"),)
    >>> len(one_attribute_variants(scene))
    14
    """
    empty = [p for p in POSITIONS if p not in {o.position for o in objects}]
    variants = []
    for index, item in enumerate(objects):
        changes = [
            ("colour", {"colour": c}) for c in COLOURS if c != item.colour
        ]
        changes += [("shape", {"shape": s}) for s in SHAPES if s != item.shape]
        changes += [("size", {"size": s}) for s in SIZES if s != item.size]
        changes += [("position", {"position": p}) for p in empty]
        for attribute, change in changes:
            others = objects[:index] + objects[index + 1 :]
            changed = dataclasses.replace(item, **change)
            variants.append((attribute, tuple(sorted(others + (changed,)))))
    return variants


def one_attribute_neighbours(scenes):
    """How many scenes of the list differ from each in one attribute.

    Scenes are compared as sets of objects keyed by position: two differ
    in one attribute when one object's colour, shape or size differs, or
    one object sits in another (empty) cell, and all else is equal.

    Args:
        scenes: list of `Scene`.

    Returns:
        A list of int, one per scene.

    Example:
    >>> red = SceneObject("top left", "circle", "red", "small")
    >>> blue = dataclasses.replace(red, colour="blue")
    >>> moved = dataclasses.replace(blue, position="top right")
    >>> one_attribute_neighbours(
    ...     [Scene((red,), 0), Scene((blue,), 0), Scene((moved,), 0)]
    ... )
    [1, 2, 1]
    """
    counts = collections.Counter(scene.objects for scene in scenes)
    return [
        sum(counts[v] for _, v in one_attribute_variants(scene.objects))
        for scene in scenes
    ]


def plan_scenes(num_images, num_objects=2, seed=0):
    """Scenes in families of `FAMILY_SIZE`, all distinct.

    Args:
        num_images: int. How many scenes; the last family may be short.
        num_objects: int. Objects per scene, 1 to 3.
        seed: int. Seed of the generator.

    Returns:
        A list of `Scene`; each family's base comes first.

    Example:
    >>> scenes = plan_scenes(10, seed=1)
    >>> [scene.changed is None for scene in scenes[:5]]
    [True, False, False, False, False]
    """
    return plan_splits({"all": num_images}, num_objects, seed)["all"]


def zero_shot_examples(num_images=320, image_size=DEFAULT_IMAGE_SIZE, seed=0):
    """One-object scenes labelled "<colour> <shape>", for zero-shot tests.

    The size and the cell are random, so a class's prompts must cover
    them: `ZERO_SHOT_TEMPLATES` names every size and cell.

    Returns:
        `(images, labels, class_names)`: PNG bytes, int class rows, and the
        class names (every colour with every shape).
    """
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    class_names = [f"{c} {s}" for c in COLOURS for s in SHAPES]
    images, labels = [], []
    for _ in range(num_images):
        label = int(rng.integers(len(class_names)))
        colour, shape = class_names[label].split(" ")
        item = SceneObject(
            position=POSITIONS[rng.integers(len(POSITIONS))],
            shape=shape,
            colour=colour,
            size=SIZES[rng.integers(len(SIZES))],
        )
        pixels = draw_scene(Scene((item,), family=0), image_size, rng)
        images.append(tf.io.encode_png(pixels).numpy())
        labels.append(label)
    return images, np.array(labels), class_names


# Prompts for `zero_shot_examples`' classes: every size in every cell.
ZERO_SHOT_TEMPLATES = tuple(
    f"a {size} {{}} in the {position}"
    for size in SIZES
    for position in POSITIONS
)


def gallery_neighbours(records):
    """How hard a written split is: its images' one-attribute neighbours.

    Args:
        records: the split's manifest records (`image_id` and `text`
            fields); each image's scene is read back from its caption.

    Returns:
        dict with `images`, and the `mean` and `min` count of other images
        of the split that differ from an image in one attribute only.
    """
    scenes = {}
    for record in records:
        if record["image_id"] not in scenes:
            objects = parse_caption(record["text"])
            scenes[record["image_id"]] = Scene(objects, family=0)
    counts = one_attribute_neighbours(list(scenes.values()))
    return {
        "images": len(counts),
        "mean": float(np.mean(counts)),
        "min": int(np.min(counts)),
    }


def plan_splits(split_sizes, num_objects=2, seed=0):
    """Scenes per split; families never cross splits.

    No scene appears twice, in a split or across splits.

    Args:
        split_sizes: dict. Number of scenes per split name, planned in the
            dict's order.
        num_objects: int. Objects per scene, 1 to 3.
        seed: int. Seed of the generator.

    Returns:
        A dict from split name to a list of `Scene`.

    Example:
    >>> plan = plan_splits({"train": 7, "test": 5})
    >>> [len(scenes) for scenes in plan.values()]
    [7, 5]
    """
    _check_plan(sum(split_sizes.values()), num_objects)
    rng = np.random.default_rng([seed, 0])
    used, plan, family = set(), {}, 0
    for split, count in split_sizes.items():
        plan[split] = []
        while len(plan[split]) < count:
            members = _family(num_objects, family, rng, used)
            members = members[: count - len(plan[split])]
            used.update(scene.objects for scene in members)
            plan[split] += members
            family += 1
    return plan


def _check_plan(num_images, num_objects):
    if num_objects not in (1, 2, 3):
        raise ValueError(
            f"num_objects must be 1, 2 or 3, received {num_objects}."
        )
    # Distinct scenes are drawn by rejection: keep the space half empty.
    objects = len(SHAPES) * len(COLOURS) * len(SIZES)
    capacity = len(list(itertools.combinations(POSITIONS, num_objects)))
    capacity *= objects**num_objects
    if not 0 < num_images <= capacity // 2:
        raise ValueError(
            f"Expected 1 to {capacity // 2} images with {num_objects} "
            f"objects each (half the {capacity} distinct scenes), received "
            f"{num_images}. Use more objects per scene or fewer images."
        )


def _family(num_objects, family, rng, used):
    """A base scene not in `used` and its variants (see module doc)."""
    pairs = list(itertools.combinations(ATTRIBUTES, 2))
    while True:
        base = _random_objects(num_objects, rng)
        if base not in used:
            break
    taken = {base} | used
    members = [Scene(base, family)]
    for attribute in (*pairs[family % len(pairs)], None):
        wanted = 2 if attribute else FAMILY_SIZE - len(members)
        for changed, objects in _candidates(base, attribute, rng):
            if wanted == 0:
                break
            if objects not in taken:
                taken.add(objects)
                members.append(Scene(objects, family, changed))
                wanted -= 1
    return members


def _random_objects(num_objects, rng):
    positions = rng.choice(POSITIONS, num_objects, replace=False)
    return tuple(
        sorted(
            SceneObject(
                str(position),
                str(rng.choice(SHAPES)),
                str(rng.choice(COLOURS)),
                str(rng.choice(SIZES)),
            )
            for position in positions
        )
    )


def _candidates(base, attribute, rng):
    """One-attribute variants of `base` changing `attribute` (any if
    None), grouped by object in random order, so that the first two
    change the same object when it has two alternatives."""
    variants = one_attribute_variants(base)
    per_object = len(variants) // len(base)
    groups = [
        variants[i * per_object : (i + 1) * per_object]
        for i in rng.permutation(len(base))
    ]
    return [
        variants_of_object[i]
        for variants_of_object in groups
        for i in rng.permutation(len(variants_of_object))
        if attribute in (None, variants_of_object[i][0])
    ]


def caption(scene, rng, template=None):
    """A caption naming every attribute of every object of the scene.

    Args:
        scene: `Scene`.
        rng: `np.random.Generator`. Draws the template, the synonyms and
            the order of the objects.
        template: int or None. Index into `TEMPLATES`; None draws one.

    Returns:
        str, lowercase words (with ":" and ";" in one template).

    Example:
    >>> scene = Scene((SceneObject("top left", "circle", "red", "small"),), 0)
    >>> text = caption(scene, np.random.default_rng(0))
    >>> parse_caption(text) == scene.objects
    True
    """
    if template is None:
        template = int(rng.integers(len(TEMPLATES)))
    frame, phrase, joiner = TEMPLATES[template]
    phrases = [
        _object_phrase(scene.objects[i], phrase, rng)
        for i in rng.permutation(len(scene.objects))
    ]
    if joiner == ";":
        return frame.format("; ".join(phrases))
    if len(phrases) == 1:
        return frame.format(phrases[0])
    return frame.format(f"{', '.join(phrases[:-1])} {joiner} {phrases[-1]}")


def captions(scene, count, rng):
    """`count` captions of the scene, each from a different template.

    Args:
        scene: `Scene`.
        count: int. At most `len(TEMPLATES)`.
        rng: `np.random.Generator`.

    Returns:
        A list of `count` str.
    """
    _check_caption_count(count)
    templates = rng.choice(len(TEMPLATES), count, replace=False)
    return [caption(scene, rng, int(t)) for t in templates]


def _check_caption_count(count):
    if not 1 <= count <= len(TEMPLATES):
        raise ValueError(
            f"Expected 1 to {len(TEMPLATES)} captions per image (one per "
            f"template), received {count}."
        )


def _object_phrase(item, phrase, rng):
    row, column = item.position.split()
    words = {
        "row": _pick(ROW_WORDS[row], rng),
        "column": _pick(COLUMN_WORDS[column], rng),
        "edge": row,
    }
    return phrase.format(
        size=_pick(SIZE_WORDS[item.size], rng),
        colour=_pick(COLOUR_WORDS[item.colour], rng),
        shape=_pick(SHAPE_WORDS[item.shape], rng),
        where=_pick(WHERE_PHRASES, rng).format(**words),
        place=_pick(PLACE_PHRASES, rng).format(**words),
    )


def _pick(options, rng):
    return options[int(rng.integers(len(options)))]


def parse_caption(text):
    """The objects a caption names, read back with the synonym tables.

    Words of one object are never interleaved with another's, so an
    object ends when it has all five of shape, colour, size, row and
    column.

    Args:
        text: str. A caption from `caption`.

    Returns:
        A sorted tuple of `SceneObject`.

    Raises:
        ValueError: an object lacks an attribute or names one twice.
    """
    words = text.replace(":", " ").replace(";", " ").replace(",", " ")
    words = words.split()
    objects, current, index = [], {}, 0
    while index < len(words):
        pair = " ".join(words[index : index + 2])
        if pair in _VOCABULARY:
            found, index = _VOCABULARY[pair], index + 2
        else:
            found, index = _VOCABULARY.get(words[index]), index + 1
        if found is None:
            continue
        kind, value = found
        if kind in current:
            raise ValueError(f"{text!r}: an object names its {kind} twice.")
        current[kind] = value
        if len(current) == 5:
            objects.append(_parsed_object(current))
            current = {}
    if current:
        raise ValueError(f"{text!r}: an object lacks {5 - len(current)} words.")
    return tuple(sorted(objects))


def _parsed_object(words):
    return SceneObject(
        f"{words['row']} {words['column']}",
        words["shape"],
        words["colour"],
        words["size"],
    )


_VOCABULARY = {
    word: (kind, value)
    for kind, table in (
        ("shape", SHAPE_WORDS),
        ("colour", COLOUR_WORDS),
        ("size", SIZE_WORDS),
        ("row", ROW_WORDS),
        ("column", COLUMN_WORDS),
    )
    for value, words in table.items()
    for word in words
}


def draw_scene(scene, image_size, rng):
    """uint8 `(image_size, image_size, 3)` pixels of the scene.

    Args:
        scene: `Scene`.
        image_size: int. Side of the square image, at least 24.
        rng: `np.random.Generator`. Draws the background, the jitter of
            each centre, the colours' small variation and the grain.

    Returns:
        np.ndarray of uint8.

    Example:
    >>> scene = Scene((SceneObject("top left", "circle", "red", "small"),), 0)
    >>> draw_scene(scene, 48, np.random.default_rng(0)).shape
    (48, 48, 3)
    """
    _check_image_size(image_size)
    pixels = _background(image_size, rng)
    for item in scene.objects:
        centre, radius = object_centre(item, image_size, rng)
        mask = synthetic.shape_mask(item.shape, image_size, centre, radius)
        pixels[mask] = np.array(PALETTE[item.colour]) + rng.normal(0, 6, 3)
    pixels += rng.normal(0.0, 5.0, pixels.shape)
    return np.clip(np.round(pixels), 0, 255).astype(np.uint8)


def _check_image_size(image_size):
    if image_size < MIN_IMAGE_SIZE:
        raise ValueError(
            f"image_size must be at least {MIN_IMAGE_SIZE} pixels (smaller "
            f"shapes are unrecognisable), received {image_size}."
        )


def object_centre(item, image_size, rng=None):
    """An object's centre `(row, col)` in pixels and its radius.

    Without `rng` the centre is the centre of the cell's middle pixel,
    which lies inside the object whatever the jitter.
    """
    cell = image_size / 2
    row, column = item.position.split()
    middle = np.floor(cell / 2) + 0.5
    centre = np.array(
        [middle + cell * (row == "bottom"), middle + cell * (column == "right")]
    )
    if rng is not None:
        centre += rng.uniform(-JITTER, JITTER, 2) * cell
    return centre, RADII[item.size] * cell


def _background(size, rng):
    # Dark grey, slightly tinted, with a gentle ramp: far from every
    # palette colour, so an object's colour is never the background's.
    level = rng.uniform(55, 95) + rng.normal(0, 4, 3)
    direction = rng.normal(size=2)
    direction *= rng.uniform(0, 12) / np.linalg.norm(direction)
    ramp = np.linspace(-1, 1, size)
    slope = ramp[:, None] * direction[0] + ramp[None, :] * direction[1]
    return slope[:, :, None] + level


def write_retrieval_dataset(
    directory,
    num_train_images=8000,
    num_validation_images=1000,
    num_test_images=1000,
    captions_per_image=2,
    image_size=DEFAULT_IMAGE_SIZE,
    num_objects=2,
    seed=0,
):
    """Writes the scenes as PNG files and a JSONL manifest of captions.

    One record per (image, caption): `{"image": "images/000123.png",
    "text": ..., "image_id": "000123", "split": ..., "family": 24}`.
    Records with the same `image_id` name the same file, written once.
    Images are numbered train first, then validation, then test. The same
    arguments always write the same bytes.

    Args:
        directory: str. Created if missing.
        num_train_images: int. Scenes in the `train` split.
        num_validation_images: int. Scenes in the `validation` split.
        num_test_images: int. Scenes in the `test` split (the gallery).
        captions_per_image: int. Captions per image, each from a
            different template, 1 to `len(TEMPLATES)`.
        image_size: int. Side of the square images, at least 24.
        num_objects: int. Objects per scene, 1 to 3.
        seed: int. Seed of the generator.

    Returns:
        A `RetrievalSummary`.

    Example:
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as directory:
    ...     summary = write_retrieval_dataset(directory, 10, 5, 5)
    >>> summary.num_images, summary.num_records["test"]
    ({'train': 10, 'validation': 5, 'test': 5}, 10)
    """
    sizes = dict(
        zip(
            SPLITS,
            (num_train_images, num_validation_images, num_test_images),
            strict=True,
        )
    )
    _check_image_size(image_size)
    _check_caption_count(captions_per_image)
    plan = plan_splits(sizes, num_objects, seed)
    os.makedirs(os.path.join(directory, "images"), exist_ok=True)
    manifest_path = os.path.join(directory, "manifest.jsonl")
    numbered = enumerate(s for split in SPLITS for s in plan[split])
    splits = [split for split in SPLITS for _ in plan[split]]
    with open(manifest_path, "w", encoding="utf-8") as manifest:
        for (index, scene), split in zip(numbered, splits, strict=True):
            image_id = f"{index:06d}"
            path = f"images/{image_id}.png"
            pixels = draw_scene(
                scene, image_size, np.random.default_rng([seed, 1, index])
            )
            synthetic._write_image(os.path.join(directory, path), pixels)
            rng = np.random.default_rng([seed, 2, index])
            for text in captions(scene, captions_per_image, rng):
                record = {"image": path, "text": text, "image_id": image_id}
                record |= {"split": split, "family": scene.family}
                manifest.write(json.dumps(record) + "\n")
    return RetrievalSummary(
        manifest_path=manifest_path,
        num_images={s: len(plan[s]) for s in SPLITS},
        num_records={s: len(plan[s]) * captions_per_image for s in SPLITS},
        num_families={s: len({x.family for x in plan[s]}) for s in SPLITS},
    )
