"""Text features of the local detector, computed without scikit-learn.

Two TF-IDF blocks (word 1-2 grams and character 2-5 grams inside word boundaries) reproduce
``sklearn.feature_extraction.text.TfidfVectorizer`` exactly for the settings used here
(lowercase, default token pattern, ``sublinear_tf=True``, ``norm="l2"``), so a model trained
with scikit-learn is applied with plain Python and NumPy: no pickle, no scikit-learn import at
run time. A third block holds dense cue features for time frame, first-person experience,
figurative speech and questions.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["TOKEN_PATTERN", "word_ngrams", "char_wb_ngrams", "TfidfBlock", "CUE_NAMES", "cue_features", "SparseRow"]

TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")
_WHITE = re.compile(r"\s\s+")

SparseRow = tuple[np.ndarray, np.ndarray]  # (column indices, values)


def word_ngrams(text: str, ngram_range: tuple[int, int] = (1, 2)) -> list[str]:
    """Word n-grams exactly as scikit-learn's ``analyzer="word"`` with lowercase."""
    tokens = TOKEN_PATTERN.findall(text.lower())
    lo, hi = ngram_range
    if hi == 1:
        return tokens
    out = list(tokens) if lo == 1 else []
    n_tokens = len(tokens)
    for n in range(max(lo, 2), min(hi, n_tokens) + 1):
        for i in range(n_tokens - n + 1):
            out.append(" ".join(tokens[i : i + n]))
    return out


def char_wb_ngrams(text: str, ngram_range: tuple[int, int] = (2, 5)) -> list[str]:
    """Character n-grams inside word boundaries, exactly as scikit-learn's ``analyzer="char_wb"``."""
    text = _WHITE.sub(" ", text.lower())
    lo, hi = ngram_range
    out: list[str] = []
    for w in text.split():
        w = f" {w} "
        wl = len(w)
        for n in range(lo, hi + 1):
            offset = 0
            out.append(w[offset : offset + n])
            while offset + n < wl:
                offset += 1
                out.append(w[offset : offset + n])
            if offset == 0:
                break
    return out


@dataclass
class TfidfBlock:
    """A fitted TF-IDF vocabulary: maps a text to an l2-normalised sparse row.

    Attributes
    ----------
    analyzer : {"word", "char_wb"}
    ngram_range : tuple of int
    vocabulary : dict
        Term -> column index within the block.
    idf : ndarray
        Inverse document frequency per column.
    offset : int
        Index of the block's first column in the full feature vector.
    """

    analyzer: str
    ngram_range: tuple[int, int]
    vocabulary: dict[str, int]
    idf: np.ndarray
    offset: int = 0

    def terms(self, text: str) -> list[str]:
        if self.analyzer == "word":
            return word_ngrams(text, self.ngram_range)
        return char_wb_ngrams(text, self.ngram_range)

    def transform_one(self, text: str) -> SparseRow:
        """Sparse row of one text (sublinear tf times idf, l2-normalised)."""
        vocab = self.vocabulary
        counts = Counter(j for j in (vocab.get(t) for t in self.terms(text)) if j is not None)
        if not counts:
            return np.empty(0, np.int64), np.empty(0, np.float64)
        idx = np.fromiter(counts.keys(), np.int64, len(counts))
        tf = np.fromiter(counts.values(), np.float64, len(counts))
        vals = (1.0 + np.log(tf)) * self.idf[idx]
        norm = math.sqrt(float(vals @ vals))
        if norm > 0:
            vals /= norm
        return idx + self.offset, vals

    @property
    def size(self) -> int:
        return int(self.idf.shape[0])


_PAST = re.compile(
    r"\b(years? ago|months ago|used to|when i was|back then|as a (kid|child|teen)|in (high school|college|middle school)|"
    r"growing up|at (the )?age|no longer|anymore|i left|we divorced|got out|been (clean|free|sober)|since then|"
    r"(19|20)\d\d|my ex|ex[- ](husband|wife|boyfriend|girlfriend|partner)|survived|healed|therapy helped)\b",
    re.I,
)
_ONGOING = re.compile(
    r"\b(still|right now|tonight|today|every (day|night)|keeps?|again|lately|currently|these days|this (week|morning)|"
    r"at the moment|can't stop|won't stop|every time|last night|tomorrow|i'm going to|i am going to|i will)\b",
    re.I,
)
_FIRST = re.compile(r"\b(i|me|my|myself|mine|i'm|i've|i'd|im|ive)\b", re.I)
_OTHER = re.compile(
    r"\b(my (friend|sister|brother|roommate|cousin|daughter|son|student|client|patient|coworker|colleague|partner's)|"
    r"(she|he|they) (is|are|was|were|has|have|told|said|keeps?)|someone i know|a friend of mine)\b",
    re.I,
)
_FIGURATIVE = re.compile(
    r"\b(lol|lmao|haha|jk|killing me|kill me now|dead tired|i'm dead|im dead|literally dying|to death|murder(ed)? (it|that)|"
    r"could kill|gonna die of)\b",
    re.I,
)
_QUESTION = re.compile(r"^\s*(how|what|why|when|where|who|which|can|could|is|are|does|do)\b|\?\s*$", re.I)
_GENERAL = re.compile(r"\b(people|anyone|everyone|society|statistics|article|news|documentary|movie|film|book|novel|character|game|episode)\b", re.I)

#: Names of the dense cue features, in column order.
CUE_NAMES: tuple[str, ...] = (
    "past_cues",
    "ongoing_cues",
    "past_minus_ongoing",
    "first_person_rate",
    "other_person_cues",
    "figurative_cues",
    "question",
    "general_cues",
    "log_length",
)


def cue_features(text: str) -> np.ndarray:
    """Dense cues of time frame, whose experience it is, figurative speech and genre.

    Counts are squashed with ``log1p`` so that long texts do not dominate.

    Examples
    --------
    >>> cue_features("I used to cut years ago").round(2)[:2].tolist()
    [1.1, 0.0]
    """
    words = max(1, len(TOKEN_PATTERN.findall(text)))
    past = len(_PAST.findall(text))
    ongoing = len(_ONGOING.findall(text))
    return np.array(
        [
            math.log1p(past),
            math.log1p(ongoing),
            math.log1p(past) - math.log1p(ongoing),
            len(_FIRST.findall(text)) / words,
            math.log1p(len(_OTHER.findall(text))),
            math.log1p(len(_FIGURATIVE.findall(text))),
            1.0 if _QUESTION.search(text) else 0.0,
            math.log1p(len(_GENERAL.findall(text))),
            math.log(words) / 6.0,
        ],
        dtype=np.float64,
    )


def stack_rows(rows: Sequence[SparseRow]) -> SparseRow:
    """Concatenate sparse rows of disjoint blocks into one row."""
    idx = np.concatenate([r[0] for r in rows]) if rows else np.empty(0, np.int64)
    val = np.concatenate([r[1] for r in rows]) if rows else np.empty(0, np.float64)
    return idx, val
