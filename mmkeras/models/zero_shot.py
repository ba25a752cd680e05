"""Zero-shot classification with a retrieval task, open_clip's way: each
class is the mean embedding of prompts made from its name."""

import numpy as np


def class_embeddings(task, class_names, templates, modality="text"):
    """One unit vector per class: its prompts' embeddings, averaged.

    Each template (e.g. "a photo of a {}.") is filled with each class name;
    the prompts of a class are embedded, L2-normalised (the task's
    embeddings already are), averaged and normalised again.

    Args:
        task: a `DualEncoder`.
        class_names: list of str.
        templates: list of str, each with one "{}".
        modality: str. The tower that embeds the prompts.

    Returns:
        float32 `(classes, embedding_dim)`.
    """
    if not class_names or not templates:
        raise ValueError("Zero-shot needs class names and prompt templates.")
    bad = [t for t in templates if t.count("{}") != 1]
    if bad:
        raise ValueError(
            f"Every template needs exactly one '{{}}' for the class name; "
            f"received {bad[0]!r}."
        )
    rows = []
    for name in class_names:
        prompts = [template.format(name) for template in templates]
        mean = np.asarray(task.embed(modality, prompts)).mean(axis=0)
        rows.append(mean / np.linalg.norm(mean))
    return np.stack(rows).astype(np.float32)


def top_k_accuracy(embeddings, labels, classes, ks=(1, 5)):
    """Fraction of items whose true class is among the k best scored.

    Args:
        embeddings: float `(items, width)`, the items' embeddings.
        labels: int `(items,)`, each item's class row in `classes`.
        classes: float `(classes, width)`, from `class_embeddings`.
        ks: the k's to report.

    Returns:
        dict of `top<k>` to float. Ties count against the item (a class
        scored equal to the true one ranks ahead of it).
    """
    scores = np.asarray(embeddings) @ np.asarray(classes).T
    labels = np.asarray(labels)
    true = scores[np.arange(len(labels)), labels]
    rank = 1 + np.sum(
        (scores >= true[:, None])
        & (np.arange(scores.shape[1]) != labels[:, None]),
        axis=1,
    )
    return {f"top{k}": float(np.mean(rank <= k)) for k in ks}
