import collections
import hashlib
import itertools
import os

import numpy as np
import pytest
import tensorflow as tf

from mmkeras.data import synthetic_scenes as scenes
from mmkeras.data.manifest import read_manifest
from mmkeras.data.synthetic_scenes import Scene
from mmkeras.data.synthetic_scenes import SceneObject

TINY = dict(
    num_train_images=10,
    num_validation_images=5,
    num_test_images=7,
    captions_per_image=2,
    image_size=32,
    seed=3,
)


def _differences(a, b):
    """Attributes two object tuples differ in, counted independently of
    the module: a move to an empty cell counts as one."""
    a = {o.position: (o.shape, o.colour, o.size) for o in a}
    b = {o.position: (o.shape, o.colour, o.size) for o in b}
    if a.keys() == b.keys():
        return sum(x != y for p in a for x, y in zip(a[p], b[p], strict=True))
    only_a, only_b = a.keys() - b.keys(), b.keys() - a.keys()
    if len(only_a) == len(only_b) == 1:
        moved = a[only_a.pop()] == b[only_b.pop()]
        rest = {p: a[p] for p in a.keys() & b.keys()}
        if moved and rest == {p: b[p] for p in rest}:
            return 1
    return 2  # at least


def _digest(directory):
    digest = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(directory)):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, directory).encode())
            with open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    directory = tmp_path_factory.mktemp("scenes")
    return directory, scenes.write_retrieval_dataset(directory, **TINY)


def test_the_same_seed_plans_and_writes_the_same(tmp_path, written):
    assert scenes.plan_scenes(30, seed=1) == scenes.plan_scenes(30, seed=1)
    assert scenes.plan_scenes(30, seed=1) != scenes.plan_scenes(30, seed=2)
    scenes.write_retrieval_dataset(tmp_path, **TINY)
    assert _digest(tmp_path) == _digest(written[0])


@pytest.mark.parametrize("num_objects", [1, 2, 3])
def test_every_variant_differs_from_its_base_in_one_attribute(num_objects):
    plan = scenes.plan_scenes(60, num_objects, seed=4)
    families = collections.defaultdict(list)
    for scene in plan:
        families[scene.family].append(scene)
    assert [len(f) for f in families.values()] == [scenes.FAMILY_SIZE] * 12
    for base, *variants in families.values():
        assert base.changed is None
        assert len(base.objects) == num_objects
        for variant in variants:
            assert _differences(base.objects, variant.objects) == 1
            assert variant.changed in scenes.ATTRIBUTES


def test_every_kind_of_attribute_is_changed_and_scenes_are_distinct():
    plan = scenes.plan_scenes(60, seed=0)
    changed = collections.Counter(scene.changed for scene in plan)
    assert set(changed) == {None, *scenes.ATTRIBUTES}
    assert len({scene.objects for scene in plan}) == len(plan)


def test_one_attribute_neighbours_on_a_hand_built_gallery():
    red = SceneObject("top left", "circle", "red", "small")
    box = SceneObject("bottom right", "square", "blue", "large")
    gallery = [
        (red, box),
        (SceneObject("top left", "circle", "green", "small"), box),
        (red, SceneObject("bottom right", "square", "blue", "small")),
        (SceneObject("top right", "circle", "red", "small"), box),
        # two attributes away from the first, one from the second
        (SceneObject("top left", "cross", "green", "small"), box),
        (box,),  # a different number of objects: nobody's neighbour
    ]
    gallery = [Scene(tuple(sorted(objects)), 0) for objects in gallery]
    assert scenes.one_attribute_neighbours(gallery) == [3, 2, 1, 1, 1, 0]


def test_one_attribute_neighbours_agrees_with_a_pairwise_count():
    for num_objects in (1, 2, 3):
        plan = scenes.plan_scenes(40, num_objects, seed=num_objects)
        expected = [
            sum(_differences(a.objects, b.objects) == 1 for b in plan)
            for a in plan
        ]
        assert scenes.one_attribute_neighbours(plan) == expected
        assert min(expected) >= 1  # whole families: nobody is alone


def test_captions_name_every_attribute_of_every_object():
    rng = np.random.default_rng(0)
    for num_objects in (1, 2, 3):
        for scene in scenes.plan_scenes(20, num_objects, seed=5):
            for template in range(len(scenes.TEMPLATES)):
                text = scenes.caption(scene, rng, template)
                assert text == text.lower()
                assert scenes.parse_caption(text) == scene.objects, text


def test_parse_caption_rejects_a_caption_that_leaves_an_attribute_out():
    with pytest.raises(ValueError, match="lacks"):
        scenes.parse_caption("a red circle in the top left")


def test_captions_of_one_image_are_worded_differently():
    scene = scenes.plan_scenes(1, seed=0)[0]
    texts = scenes.captions(scene, 4, np.random.default_rng(0))
    assert len(set(texts)) == 4
    with pytest.raises(ValueError, match="captions per image"):
        scenes.captions(
            scene, len(scenes.TEMPLATES) + 1, np.random.default_rng()
        )


def test_the_written_manifest_reads_back(written):
    directory, summary = written
    manifest = read_manifest(
        summary.manifest_path, modalities=("image", "text"), target_fields=()
    )
    records = [r.fields for r in manifest.records]
    assert len(records) == 22 * 2
    assert summary.num_images == {"train": 10, "validation": 5, "test": 7}
    assert summary.num_records["test"] == 14
    by_image = collections.defaultdict(set)
    for record in records:
        by_image[record["image_id"]].add(record["text"])
        assert record["image"].endswith(f"images/{record['image_id']}.png")
    assert all(len(texts) == 2 for texts in by_image.values())
    assert len(os.listdir(os.path.join(directory, "images"))) == 22
    pixels = tf.io.decode_png(tf.io.read_file(records[0]["image"]))
    assert pixels.shape == (32, 32, 3)


def test_splits_do_not_share_families_or_scenes(written):
    _, summary = written
    manifest = read_manifest(
        summary.manifest_path, modalities=("image", "text"), target_fields=()
    )
    splits = collections.defaultdict(set)
    for record in manifest.records:
        splits[record["family"]].add(record["split"])
    assert all(len(names) == 1 for names in splits.values())
    plan = scenes.plan_splits({"train": 12, "validation": 6, "test": 8})
    families = {s: {x.family for x in plan[s]} for s in plan}
    for a, b in itertools.combinations(plan, 2):
        assert not families[a] & families[b]
        assert not {x.objects for x in plan[a]} & {x.objects for x in plan[b]}


def _nearest_colour(pixel):
    names = list(scenes.PALETTE)
    distances = [np.linalg.norm(pixel - scenes.PALETTE[n]) for n in names]
    return names[int(np.argmin(distances))], min(distances)


def test_objects_have_their_colour_in_their_cell_and_their_size():
    size, cell = 48, 24
    areas = collections.defaultdict(list)
    plan = scenes.plan_scenes(40, num_objects=3, seed=6)
    for index, scene in enumerate(plan):
        pixels = scenes.draw_scene(scene, size, np.random.default_rng(index))
        assert pixels.shape == (size, size, 3) and pixels.dtype == np.uint8
        for item in scene.objects:
            centre, _ = scenes.object_centre(item, size)
            row, col = np.floor(centre).astype(int)
            assert _nearest_colour(pixels[row, col].astype(float)) == (
                item.colour,
                pytest.approx(0, abs=45),
            )
            top, left = row // cell * cell, col // cell * cell
            patch = pixels[top : top + cell, left : left + cell].astype(float)
            close = np.linalg.norm(patch - scenes.PALETTE[item.colour], axis=-1)
            areas[item.shape, item.size].append(np.sum(close < 45))
    for shape in scenes.SHAPES:
        assert min(areas[shape, "large"]) > 2 * max(areas[shape, "small"])


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(num_objects=4), "num_objects"),
        (dict(num_objects=1, num_train_images=200), "half the"),
        (dict(image_size=16), "image_size"),
        (dict(captions_per_image=0), "captions per image"),
    ],
)
def test_bad_arguments_say_what_to_do(tmp_path, arguments, message):
    with pytest.raises(ValueError, match=message):
        scenes.write_retrieval_dataset(tmp_path, **(TINY | arguments))
