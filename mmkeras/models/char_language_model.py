"""A character n-gram language model, learned from training transcripts."""

import collections
import math

# The end of a transcript, as a character the model predicts.
END = "\n"
# Context padding before a transcript's first character.
START = "\t"


class CharLanguageModel:
    """Interpolated (Witten-Bell) character n-grams of transcripts.

    `log_prob(context, char)` is the natural-log probability of `char`
    after the text `context`, from the last `order - 1` characters of
    `context`, interpolated with every shorter context down to a uniform
    distribution over the characters seen (plus `END`), so no character
    of the alphabet has probability 0. `END` scores the end of a
    transcript. Used by `ctc_decoding.beam_search` for shallow fusion.

    Args:
        order: int. Characters per n-gram (the predicted one included).

    Example:
    >>> from mmkeras.models.char_language_model import CharLanguageModel
    >>> lm = CharLanguageModel(order=3).fit(["one two", "one one"])
    >>> lm.log_prob("on", "e") > lm.log_prob("on", "t")
    True
    """

    def __init__(self, order=3):
        if not isinstance(order, int) or order < 1:
            raise ValueError(
                f"order must be a positive int, received {order!r}."
            )
        self.order = order
        self.counts = {}  # context -> {char: count}
        self.alphabet = set()

    def fit(self, transcripts):
        """Counts the n-grams of `transcripts` (str each); returns self."""
        counts = collections.defaultdict(collections.Counter)
        for text in transcripts:
            padded = START * (self.order - 1) + text + END
            self.alphabet.update(text + END)
            for i in range(self.order - 1, len(padded)):
                for n in range(self.order):
                    counts[padded[i - n : i]][padded[i]] += 1
        self.counts = {c: dict(v) for c, v in counts.items()}
        self._cache = {}
        return self

    def log_prob(self, context, char):
        """log p(char | last order-1 characters of context)."""
        context = (START * (self.order - 1) + context)[-(self.order - 1) :]
        if self.order == 1:
            context = ""
        key = (context, char)
        cache = self.__dict__.setdefault("_cache", {})
        if key not in cache:
            cache[key] = math.log(self._prob(context, char))
        return cache[key]

    def _prob(self, context, char):
        probability = 1.0 / max(len(self.alphabet), 1)
        for n in range(len(context) + 1):
            followers = self.counts.get(context[len(context) - n :])
            if not followers:
                break
            total = sum(followers.values())
            types = len(followers)
            weight = total / (total + types)
            probability = (
                weight * followers.get(char, 0) / total
                + (1 - weight) * probability
            )
        return probability

    def to_config(self):
        """JSON values that `from_config` restores the model from."""
        return {
            "order": self.order,
            "alphabet": "".join(sorted(self.alphabet)),
            "counts": self.counts,
        }

    @classmethod
    def from_config(cls, config):
        model = cls(config["order"])
        model.alphabet = set(config["alphabet"])
        model.counts = {c: dict(v) for c, v in config["counts"].items()}
        return model
