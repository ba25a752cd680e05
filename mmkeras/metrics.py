"""Full-gallery image-text retrieval metrics, and what chance would score.

Retrieval quality is a property of the whole evaluation set: a caption's
rank depends on every image it competes with, so these run in numpy over
all embeddings at once (never per batch, where a batch of 32 would make
Recall@10 look nearly perfect). Queries are scored a chunk of rows at a
time, so memory stays at `chunk_size` times the gallery size.

Ranks are 1-based and pessimistic on ties: a query's rank is 1 plus the
number of wrong candidates scoring at least as high as the right one. A
model that gives every pair the same score then ranks last, not first.

`chance_metrics` gives the same keys for a model that ranks at random, the
floor a trained model is compared with.
"""

import math

import numpy as np

RECALL_AT = (1, 5, 10)
DIRECTIONS = ("text_to_image", "image_to_text")


def retrieval_metrics(
    image_embeddings, text_embeddings, text_image_index, chunk_size=1024
):
    """Recall@K, MRR and median rank, text to image and image to text.

    Similarity is the dot product. Text to image: each caption's rank of
    its image among all images. Image to text (as TorchMultimodal's ALBEF
    evaluation): an image's rank is the best rank of any of its captions
    among all captions, where the rank of one true caption is 1 plus the
    number of captions of other images scoring at least as high (its
    image's other captions are not wrong answers). Images with no caption
    have nothing to retrieve and are left out of image to text.

    Args:
        image_embeddings: float array `(num_images, dim)`, one row per
            unique image.
        text_embeddings: float array `(num_texts, dim)`, one row per
            caption.
        text_image_index: int array `(num_texts,)`, the row of each
            caption's image in `image_embeddings`.
        chunk_size: int. Query rows scored at once.

    Returns:
        dict of floats, for each direction `text_to_image_` and
        `image_to_text_`: `r1`, `r5`, `r10` (the fraction of queries whose
        rank is at most K), `mrr` (mean of 1 / rank) and `median_rank`
        (`np.median` of the ranks).

    Example:
    >>> from mmkeras.metrics import retrieval_metrics
    >>> images = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> texts = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    >>> metrics = retrieval_metrics(images, texts, [0, 1, 1])
    >>> metrics["text_to_image_r1"], metrics["text_to_image_median_rank"]
    (0.666..., 1.0)
    >>> metrics["image_to_text_r1"]
    0.5
    """
    images, texts, index = _checked_embeddings(
        image_embeddings, text_embeddings, text_image_index
    )
    if not (isinstance(chunk_size, int) and chunk_size >= 1):
        raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}.")
    image_ids = np.arange(len(images))
    text_ranks = _ranks(texts, index, images, image_ids, chunk_size)
    image_ranks = _ranks(images, image_ids, texts, index, chunk_size)
    return {
        **_summary("text_to_image", text_ranks),
        **_summary("image_to_text", image_ranks),
    }


def chance_metrics(
    num_images, num_texts_per_image=None, *, text_image_index=None
):
    """The expected `retrieval_metrics` of a model that ranks at random.

    Random ranking means every order of the candidates is equally likely.
    Text to image, a caption's rank R is then uniform on 1..N (N images):
    R@K = min(K, N) / N and MRR = H_N / N. Image to text, an image with c
    of the M captions ranks its best one at R = r with probability
    C(M - r, c - 1) / C(M, c) (its other c - 1 captions fall after r), so
    P(R > r) = C(M - r, c) / C(M, c); the metrics average over the images
    with at least one caption, as `retrieval_metrics` does. All of these
    are exact expectations. `median_rank` is the median of the rank's
    distribution (averaged over images), with `np.median`'s midpoint
    when it falls between two ranks: exactly (N + 1) / 2 text to image.
    It is the value the median over many queries tends to, not the
    expectation of the median over a finite set.

    Args:
        num_images: int. Images in the gallery.
        num_texts_per_image: int. Captions of every image. Give this or
            `text_image_index`.
        text_image_index: int array `(num_texts,)`, as in
            `retrieval_metrics`, when images have different numbers of
            captions.

    Returns:
        dict of floats with the keys of `retrieval_metrics`.

    Example:
    >>> from mmkeras.metrics import chance_metrics
    >>> chance = chance_metrics(100, num_texts_per_image=5)
    >>> round(chance["text_to_image_r10"], 4)  # 10 of 100 images
    0.1
    >>> chance["text_to_image_median_rank"]
    50.5
    >>> round(chance["image_to_text_r1"], 4)  # 5 of 500 captions right
    0.01
    """
    counts = _caption_counts(num_images, num_texts_per_image, text_image_index)
    num_texts = int(counts.sum())
    text_pmf = np.full(num_images, 1.0 / num_images)
    captioned, weights = np.unique(counts[counts > 0], return_counts=True)
    image_pmf = (
        sum(
            weight * _best_of_pmf(int(c), num_texts)
            for c, weight in zip(captioned, weights, strict=True)
        )
        / weights.sum()
    )
    return {
        **_expected("text_to_image", text_pmf),
        **_expected("image_to_text", image_pmf),
    }


def _checked_embeddings(image_embeddings, text_embeddings, text_image_index):
    images = _checked_matrix(image_embeddings, "image_embeddings")
    texts = _checked_matrix(text_embeddings, "text_embeddings")
    if images.shape[1] != texts.shape[1]:
        raise ValueError(
            f"image_embeddings have width {images.shape[1]} but "
            f"text_embeddings have width {texts.shape[1]}; embed both with "
            "the same model."
        )
    index = _checked_index(text_image_index, len(images))
    if len(index) != len(texts):
        raise ValueError(
            f"text_image_index has {len(index)} entries but there are "
            f"{len(texts)} text_embeddings; give one image row per caption."
        )
    return images, texts, index


def _checked_matrix(embeddings, name):
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim != 2 or 0 in embeddings.shape:
        raise ValueError(
            f"{name} must be a non-empty (rows, dim) array, received shape "
            f"{embeddings.shape}."
        )
    if not np.all(np.isfinite(embeddings)):
        raise ValueError(f"{name} contain NaN or infinite values.")
    return embeddings


def _checked_index(text_image_index, num_images):
    index = np.asarray(text_image_index)
    if index.ndim != 1 or index.size == 0:
        raise ValueError(
            "text_image_index must be a non-empty 1-D array (one image row "
            f"per caption), received shape {index.shape}."
        )
    if not np.issubdtype(index.dtype, np.integer):
        raise ValueError(
            f"text_image_index must hold ints, received dtype {index.dtype}."
        )
    bad = (index < 0) | (index >= num_images)
    if np.any(bad):
        raise ValueError(
            f"text_image_index[{np.argmax(bad)}] = {index[np.argmax(bad)]} "
            f"is not a row of the {num_images} images."
        )
    return index


def _ranks(queries, query_ids, candidates, candidate_ids, chunk_size):
    """Each query's pessimistic rank of its best true candidate.

    A candidate is true for a query when their ids are equal. Queries with
    no true candidate are left out.
    """
    ranks = []
    for start in range(0, len(queries), chunk_size):
        rows = slice(start, start + chunk_size)
        scores = queries[rows] @ candidates.T
        is_true = query_ids[rows, None] == candidate_ids[None, :]
        best_true = np.max(
            np.where(is_true, scores, -np.inf), axis=1, keepdims=True
        )
        # A wrong candidate tying the best true one counts against it.
        beaten_by = np.sum((scores >= best_true) & ~is_true, axis=1)
        ranks.append((1 + beaten_by)[np.any(is_true, axis=1)])
    return np.concatenate(ranks)


def _summary(direction, ranks):
    metrics = {
        f"{direction}_r{k}": float(np.mean(ranks <= k)) for k in RECALL_AT
    }
    metrics[f"{direction}_mrr"] = float(np.mean(1.0 / ranks))
    metrics[f"{direction}_median_rank"] = float(np.median(ranks))
    return metrics


def _caption_counts(num_images, num_texts_per_image, text_image_index):
    """Captions per image, from exactly one of the two ways to give them."""
    if not (isinstance(num_images, int) and num_images >= 1):
        raise ValueError(f"num_images must be an int >= 1, got {num_images!r}.")
    if (num_texts_per_image is None) == (text_image_index is None):
        raise ValueError(
            "Give exactly one of num_texts_per_image (the same for every "
            "image) and text_image_index (one image row per caption)."
        )
    if text_image_index is not None:
        index = _checked_index(text_image_index, num_images)
        return np.bincount(index, minlength=num_images)
    if not (isinstance(num_texts_per_image, int) and num_texts_per_image >= 1):
        raise ValueError(
            "num_texts_per_image must be an int >= 1, got "
            f"{num_texts_per_image!r}."
        )
    return np.full(num_images, num_texts_per_image)


def _best_of_pmf(num_true, num_candidates):
    """P(R = r), r = 1..M, for R the best of `num_true` random positions.

    P(R > r) = C(M - r, c) / C(M, c) = prod_j (M - r - j) / (M - j), the
    chance that all c true candidates fall after position r.
    """
    after = num_candidates - np.arange(num_candidates + 1.0)
    survival = np.ones(num_candidates + 1)
    for j in range(num_true):
        survival *= np.maximum(after - j, 0.0) / (num_candidates - j)
    return survival[:-1] - survival[1:]


def _expected(direction, pmf):
    """The metrics' expectations for a rank R with P(R = r) = pmf[r - 1]."""
    ranks = np.arange(1, len(pmf) + 1)
    metrics = {f"{direction}_r{k}": float(np.sum(pmf[:k])) for k in RECALL_AT}
    metrics[f"{direction}_mrr"] = float(np.sum(pmf / ranks))
    metrics[f"{direction}_median_rank"] = _distribution_median(pmf)
    return metrics


def _distribution_median(pmf):
    """The median of P(R = r) = pmf[r - 1], midway when P(R <= r) is 1/2."""
    cdf = np.cumsum(pmf)
    # Rounding can leave an exact 1/2 a hair below it.
    below = int(np.searchsorted(cdf, 0.5 - 1e-12))
    if not math.isclose(cdf[below], 0.5, abs_tol=1e-12):
        return float(below + 1)
    above = below + 1 + int(np.argmax(pmf[below + 1 :] > 0))
    return (below + 1 + above + 1) / 2.0


# Video summarisation: summary F-score (TVSum/SumMe protocol) and rank
# correlation of frame importance (Otani et al., 2019).


def summary_f_score(predicted, reference):
    """F-score of a summary against one reference summary.

    Precision is the share of the predicted frames that the reference
    holds, recall the share of the reference's frames predicted; F is
    their harmonic mean, 0 when they share no frame (or either is empty).

    Args:
        predicted: bool array `(frames,)`.
        reference: bool array `(frames,)`.

    Returns:
        float in [0, 1].

    Example:
    >>> summary_f_score([1, 1, 0, 0], [0, 1, 1, 0])
    0.5
    """
    predicted = np.asarray(predicted, bool).reshape(-1)
    reference = np.asarray(reference, bool).reshape(-1)
    if predicted.shape != reference.shape:
        raise ValueError(
            f"A summary of {len(predicted)} frames cannot be compared with "
            f"a reference of {len(reference)} frames."
        )
    overlap = np.sum(predicted & reference)
    if overlap == 0:
        return 0.0
    precision = overlap / np.sum(predicted)
    recall = overlap / np.sum(reference)
    return float(2 * precision * recall / (precision + recall))


def summary_f_scores(predicted, references):
    """`(mean, max)` F-score over references, one per annotator (TVSum
    reports the mean, SumMe the max)."""
    scores = [summary_f_score(predicted, r) for r in references]
    if not scores:
        raise ValueError("summary_f_scores needs at least one reference.")
    return float(np.mean(scores)), float(np.max(scores))


def average_ranks(values):
    """1-based ranks, ties sharing their average rank.

    Example:
    >>> average_ranks([10, 30, 20, 30]).tolist()
    [1.0, 3.5, 2.0, 3.5]
    """
    values = np.asarray(values, np.float64).reshape(-1)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    start = 0
    for end in range(1, len(values) + 1):
        if end == len(values) or sorted_values[end] != sorted_values[start]:
            ranks[order[start:end]] = (start + end + 1) / 2
            start = end
    return ranks


def _paired(a, b):
    a = np.asarray(a, np.float64).reshape(-1)
    b = np.asarray(b, np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(
            f"Rank correlation needs two equally long score lists, received "
            f"{len(a)} and {len(b)}."
        )
    return a, b


def kendall_tau(a, b):
    """Kendall's tau-b of two score lists (ties corrected, as SciPy's
    `kendalltau`); nan when either is constant.

    Example:
    >>> round(kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]), 4)
    0.6667
    """
    a, b = _paired(a, b)
    upper = np.triu_indices(len(a), k=1)
    sign_a = np.sign(a[:, None] - a[None, :])[upper]
    sign_b = np.sign(b[:, None] - b[None, :])[upper]
    denominator = np.sqrt(np.sum(sign_a != 0) * np.sum(sign_b != 0))
    if denominator == 0:
        return float("nan")
    return float(np.sum(sign_a * sign_b) / denominator)


def spearman_rho(a, b):
    """Spearman's rho: the Pearson correlation of average ranks; nan when
    either is constant.

    Example:
    >>> spearman_rho([1, 2, 3, 4], [1, 3, 2, 4])
    0.8
    """
    a, b = _paired(a, b)
    ranks_a = average_ranks(a) - (len(a) + 1) / 2
    ranks_b = average_ranks(b) - (len(b) + 1) / 2
    denominator = np.sqrt(np.sum(ranks_a**2) * np.sum(ranks_b**2))
    if denominator == 0:
        return float("nan")
    return round(float(np.sum(ranks_a * ranks_b) / denominator), 12)


def edit_distance(reference, hypothesis):
    """Levenshtein distance between two sequences (strings or lists)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_item in enumerate(reference, start=1):
        current = [i]
        for j, hyp_item in enumerate(hypothesis, start=1):
            current.append(
                min(
                    previous[j] + 1,
                    current[j - 1] + 1,
                    previous[j - 1] + (ref_item != hyp_item),
                )
            )
        previous = current
    return previous[-1]


def normalize_transcript(text):
    """Lower case, single spaces, no leading or trailing space: the form
    transcripts are learned, decoded and scored in."""
    return " ".join(str(text).lower().split())


def error_rates(references, hypotheses):
    """Character and word error rates over a whole evaluation set.

    Each rate is the total edit distance over the total reference length
    (so a long utterance weighs more than a short one), never a mean of
    per-utterance or per-batch ratios. Texts are compared after
    `normalize_transcript`; characters include the spaces between words.

    Args:
        references: sequence of str, the true transcripts.
        hypotheses: sequence of str, the decoded ones, in the same order.

    Returns:
        dict with float `cer` and `wer` and the int totals they come from:
        `char_errors`, `chars`, `word_errors`, `words`.
    """
    references = list(references)
    hypotheses = list(hypotheses)
    if len(references) != len(hypotheses):
        raise ValueError(
            f"error_rates needs one hypothesis per reference, received "
            f"{len(references)} references and {len(hypotheses)} hypotheses."
        )
    totals = {"char_errors": 0, "chars": 0, "word_errors": 0, "words": 0}
    for reference, hypothesis in zip(references, hypotheses, strict=True):
        reference = normalize_transcript(reference)
        hypothesis = normalize_transcript(hypothesis)
        totals["char_errors"] += edit_distance(reference, hypothesis)
        totals["chars"] += len(reference)
        ref_words, hyp_words = reference.split(), hypothesis.split()
        totals["word_errors"] += edit_distance(ref_words, hyp_words)
        totals["words"] += len(ref_words)
    return {
        "cer": totals["char_errors"] / max(totals["chars"], 1),
        "wer": totals["word_errors"] / max(totals["words"], 1),
        **totals,
    }
