"""What `scripts/train_retrieval.py` prints and draws: full-gallery
metrics beside chance, the goals, and a sheet of queries with their
top-ranked images."""

import numpy as np

from mmkeras.data.pipeline import raw_dataset
from mmkeras.metrics import chance_metrics

DIRECTIONS = (
    ("text_to_image", "text->image"),
    ("image_to_text", "image->text"),
)
ROWS = (
    ("r1", "R@1"),
    ("r5", "R@5"),
    ("r10", "R@10"),
    ("mrr", "MRR"),
    ("median_rank", "median rank"),
)
# The goals, text->image: (metric, at least).
GOALS = (("text_to_image_r1", 0.80), ("text_to_image_r10", 0.98))


def chance_of(records, id_field):
    """`chance_metrics` of a split of pairs (its gallery and captions)."""
    index = _item_index([r[id_field] for r in records])
    return chance_metrics(len(set(index)), text_image_index=np.array(index))


def metric_lines(metrics, chance):
    """A table: each metric in both directions, chance beside it."""
    header = f"  {'':<13}" + "".join(
        f"{name:>13}{'chance':>9}" for _, name in DIRECTIONS
    )
    lines = [header]
    for key, label in ROWS:
        line = f"  {label:<13}"
        for direction, _ in DIRECTIONS:
            name = f"{direction}_{key}"
            line += f"{_shown(key, metrics[name]):>13}"
            line += f"{_shown(key, chance[name]):>9}"
        lines.append(line)
    return lines


def goal_lines(metrics):
    """One line per goal: the value, the goal and whether it is met."""
    lines = []
    for name, goal in GOALS:
        met = "met" if metrics[name] >= goal else "NOT met"
        lines.append(f"  {name} {metrics[name]:.4f} (goal >= {goal}): {met}")
    return lines


def _shown(key, value):
    return f"{value:.1f}" if key == "median_rank" else f"{value:.4f}"


def _item_index(ids):
    positions = {}
    return [positions.setdefault(item, len(positions)) for item in ids]


def query_sheet(task, records, path, num_queries=5, top_k=5, seed=0):
    """Draws `num_queries` captions of `records`, each with its top-k
    images of the split's gallery (the true image framed green, others
    grey), and writes the sheet as a PNG.

    Args:
        task: a `DualEncoder` on image and text.
        records: list of `Record`, pairs from `read_pairs`.
        path: str. The PNG to write.
        num_queries, top_k: int.
        seed: int. Which captions are drawn.

    Returns:
        list of `(caption, true rank)` for the drawn queries.
    """
    from PIL import Image
    from PIL import ImageDraw

    id_field = task.preprocessor.label_field
    items = {}
    for record in records:
        items.setdefault(record[id_field], record)
    gallery = list(items.values())
    pixels = [
        example["image"]
        for example in raw_dataset(gallery, ("image",), ()).as_numpy_iterator()
    ]
    gallery_embeddings = _embed_images(task, pixels)
    chosen = np.random.default_rng(seed).choice(
        len(records), num_queries, replace=False
    )
    queries = [records[i] for i in chosen]
    query_embeddings = np.asarray(
        task.embed("text", [q["text"] for q in queries])
    )
    scores = query_embeddings @ gallery_embeddings.T
    ids = list(items)
    thumb, pad, text_width = 96, 6, 360
    sheet = Image.new(
        "RGB",
        (
            text_width + top_k * (thumb + pad) + pad,
            num_queries * (thumb + 2 * pad),
        ),
        "white",
    )
    draw = ImageDraw.Draw(sheet)
    ranks = []
    for row, (query, row_scores) in enumerate(
        zip(queries, scores, strict=True)
    ):
        order = np.argsort(-row_scores, kind="stable")
        truth = ids.index(query[id_field])
        ranks.append((query["text"], int(np.where(order == truth)[0][0]) + 1))
        top = row * (thumb + 2 * pad)
        caption = f"{query['text']}\n(true image at rank {ranks[-1][1]})"
        draw.multiline_text((pad, top + pad), _wrap(caption, 52), fill="black")
        for column, item in enumerate(order[:top_k]):
            left = text_width + column * (thumb + pad)
            image = _decoded(pixels[item]).resize((thumb, thumb), Image.NEAREST)
            frame = "#1a9641" if item == truth else "#bbbbbb"
            draw.rectangle(
                (
                    left - 3,
                    top + pad - 3,
                    left + thumb + 2,
                    top + pad + thumb + 2,
                ),
                fill=frame,
            )
            sheet.paste(image, (left, top + pad))
            draw.text(
                (left + 2, top + pad + 2),
                f"{row_scores[item]:.2f}",
                fill="white",
            )
    sheet.save(path)
    return ranks


def _embed_images(task, images, batch_size=64):
    """The task's embeddings of encoded images, a batch at a time."""
    return np.concatenate(
        [
            np.asarray(task.embed("image", images[i : i + batch_size]))
            for i in range(0, len(images), batch_size)
        ]
    )


def _decoded(encoded):
    import io

    from PIL import Image

    return Image.open(io.BytesIO(encoded)).convert("RGB")


def _wrap(text, width):
    lines, line = [], ""
    for word in text.split(" "):
        if "\n" in word:
            head, tail = word.split("\n", 1)
            lines.append(f"{line} {head}".strip())
            line = tail
        elif len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join(lines + [line])


def zero_shot_lines(task, images, labels, class_names, templates):
    """Zero-shot top-1/top-5 with the prompts averaged, with one prompt,
    and by chance."""
    from mmkeras.models.zero_shot import class_embeddings
    from mmkeras.models.zero_shot import top_k_accuracy

    embeddings = _embed_images(task, images)
    rows = [
        (f"{len(templates)} prompts averaged", templates),
        ('one prompt "a {}"', ["a {}"]),
    ]
    lines = []
    for label, prompts in rows:
        classes = class_embeddings(task, class_names, prompts)
        accuracy = top_k_accuracy(embeddings, labels, classes)
        lines.append(
            f"  {label:<22} top-1 {accuracy['top1']:.4f}  "
            f"top-5 {accuracy['top5']:.4f}"
        )
    count = len(class_names)
    top5 = min(5, count) / count
    lines.append(f"  {'chance':<22} top-1 {1 / count:.4f}  top-5 {top5:.4f}")
    return lines
