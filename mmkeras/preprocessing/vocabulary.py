"""Learning a word-piece vocabulary from a corpus of captions."""

import collections
import re
import unicodedata

PAD_TOKEN = "[PAD]"
UNKNOWN_TOKEN = "[UNK]"
SPECIAL_TOKENS = (PAD_TOKEN, UNKNOWN_TOKEN)
SUFFIX_INDICATOR = "##"

# BERT's basic tokenizer splits on whitespace and around punctuation; the
# vocabulary must be learned on the same units the tokenizer will see.
_WORD_PATTERN = re.compile(r"\w+|[^\w\s]")


def normalize(text):
    """Lower-cases and strips accents, as FastBertTokenizer does."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def learn_vocabulary(texts, max_size=4096, min_count=1):
    """Learns a word-piece vocabulary: special tokens, words, characters.

    Whole words that occur at least `min_count` times are kept, most
    frequent first. Every character of the corpus is added both as a word
    start and as a `##` continuation piece, so any word spelled with known
    characters tokenizes into pieces instead of `[UNK]`.

    Args:
        texts: iterable of str. The training captions.
        max_size: int. Upper bound on the vocabulary size.
        min_count: int. Minimum count for a whole word to be kept.

    Returns:
        list of str, `[PAD]` at id 0 and `[UNK]` at id 1. Deterministic for
        a given corpus (ties are broken alphabetically).

    Example:
    >>> learn_vocabulary(["a red circle", "a blue square"])[:4]
    ['[PAD]', '[UNK]', 'blue', 'circle']
    """
    word_counts = collections.Counter()
    for text in texts:
        word_counts.update(_WORD_PATTERN.findall(normalize(text)))
    characters = sorted({c for word in word_counts for c in word})
    pieces = characters + [SUFFIX_INDICATOR + c for c in characters]
    budget = max_size - len(SPECIAL_TOKENS) - len(pieces)
    if budget < 0:
        raise ValueError(
            f"max_size={max_size} cannot hold the {len(pieces)} character "
            "pieces of this corpus plus the special tokens; raise max_size."
        )
    frequent = sorted(
        (w for w, n in word_counts.items() if n >= min_count and len(w) > 1),
        key=lambda w: (-word_counts[w], w),
    )[:budget]
    vocabulary = list(SPECIAL_TOKENS) + sorted(frequent)
    seen = set(vocabulary)
    vocabulary += [piece for piece in pieces if piece not in seen]
    return vocabulary


def save_vocabulary(vocabulary, path):
    """Writes one token per line (the format BERT tooling reads)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(vocabulary) + "\n")


def load_vocabulary(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.rstrip("\n")]
