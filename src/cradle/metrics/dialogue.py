"""Alert-Confirm scores for dialogues: turn level, dialogue level, confirm only, and timing.

Every setting is computed from one :class:`AlignedTurns` table: the gold and the predicted
labels of every user turn, as two boolean matrices over the 16 dialogue labels, with the row
range of each dialogue. Listener turns are context only and never scored. The formulas are in
``docs/dialogue-metrics.md``; in short (``Y`` gold, ``P`` prediction):

- **turn level**: one item per user turn, ``Y_t`` = the labels that first appear at turn ``t``,
  ``P_t`` = the labels the detector raised at ``t``; the multi-label metrics of
  :func:`cradle.metrics.multilabel_scores` (micro F1 is the headline). A label raised again at
  a later turn is a false positive on that turn.
- **dialogue level**: one item per dialogue, the union of its turns' labels on each side
  (timing ignored).
- **confirm only**: the turn level restricted to the 14 ``confirm_*`` columns.
- **timing**: for every gold label, the offset in user turns of the first prediction of the
  same label in the same dialogue (early < 0, on time = 0, late > 0, missed); the early-warning
  rate; false alarms per dialogue; and F1 with a tolerance of +/- ``k`` user turns.

A prediction whose status is not ``ok`` counts as an empty label set ("all samples"). The
``valid_only`` block repeats the three settings on the dialogues whose every user-turn
prediction is ``ok``: dropping single turns would move labels in time, so a dialogue is kept or
dropped whole. Confidence intervals resample whole dialogues.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cradle.data import DataError, Dialogue, Prediction, RowIssue
from cradle.data.alignment import compare_ids, id_issues, repeated_ids
from cradle.labels import DIALOGUE_LABELS, DialogueLabel, UnknownLabelError, normalize_dialogue_label
from cradle.metrics._validation import ZeroDivision, label_matrix
from cradle.metrics.bootstrap import bootstrap_ci, bootstrap_weights
from cradle.metrics.multilabel import SCALAR_METRICS, multilabel_scores

__all__ = [
    "LABELS",
    "CONFIRM_LABELS",
    "SETTINGS",
    "TIMING_RATES",
    "AlignedTurns",
    "align_dialogue_predictions",
    "turn_level_scores",
    "monitor_scores",
    "dialogue_level_scores",
    "confirm_only_scores",
    "timing_scores",
    "tolerance_matches",
    "score_dialogues",
]

#: The 16 dialogue label strings, in column order.
LABELS: tuple[str, ...] = tuple(x.value for x in DIALOGUE_LABELS)
#: The 14 confirm label strings, in column order.
CONFIRM_LABELS: tuple[str, ...] = tuple(x.value for x in DIALOGUE_LABELS if x.is_confirm)
_CONFIRM_COLUMNS = np.array([j for j, x in enumerate(DIALOGUE_LABELS) if x.is_confirm])
_ALERT_COLUMN = {x.time_frame: j for j, x in enumerate(DIALOGUE_LABELS) if x.is_alert}
_FRAME_ALERT = np.array([_ALERT_COLUMN[x.time_frame] for x in DIALOGUE_LABELS])
_IS_ALERT = np.array([x.is_alert for x in DIALOGUE_LABELS])

#: Timing rates that get a bootstrap interval, in report order.
TIMING_RATES: tuple[str, ...] = (
    "early_rate",
    "on_time_rate",
    "late_rate",
    "missed_rate",
    "early_warning_rate",
    "false_alarms_per_dialogue",
    "false_alarm_dialogue_rate",
    "tolerance_precision",
    "tolerance_recall",
    "tolerance_f1",
)


@dataclass(frozen=True)
class AlignedTurns:
    """Gold and predicted labels of every user turn, dialogue by dialogue.

    Attributes
    ----------
    dialogue_ids : tuple of str
        One id per dialogue, in order.
    bounds : ndarray of shape (n_dialogues + 1,)
        Rows ``bounds[i]:bounds[i + 1]`` are the user turns of dialogue ``i``, in order.
    y_true, y_pred : ndarray of shape (n_user_turns, 16)
        Boolean indicator matrices over :data:`LABELS`; a row of ``y_pred`` whose prediction is
        not ``ok`` is empty.
    ok : ndarray of shape (n_user_turns,)
        True where the turn's prediction has status ``ok``.

    Examples
    --------
    >>> a = AlignedTurns.from_label_sets([[["alert_past"], []], [[]]], [[[], ["alert_past"]], [[]]])
    >>> a.n_dialogues, a.n_turns, a.groups.tolist()
    (2, 3, [0, 0, 1])
    """

    dialogue_ids: tuple[str, ...]
    bounds: np.ndarray
    y_true: np.ndarray
    y_pred: np.ndarray
    ok: np.ndarray

    @property
    def n_dialogues(self) -> int:
        """Number of dialogues."""
        return len(self.dialogue_ids)

    @property
    def n_turns(self) -> int:
        """Number of user turns (rows)."""
        return int(self.y_true.shape[0])

    @property
    def groups(self) -> np.ndarray:
        """The dialogue index of every row (the unit of bootstrap resampling)."""
        return np.repeat(np.arange(self.n_dialogues), np.diff(self.bounds))

    @property
    def dialogue_ok(self) -> np.ndarray:
        """True for the dialogues whose every user-turn prediction is ``ok``."""
        return np.array([bool(self.ok[a:b].all()) for a, b in zip(self.bounds[:-1], self.bounds[1:], strict=True)], dtype=bool)

    def rows(self, i: int) -> slice:
        """The rows of dialogue ``i``."""
        return slice(int(self.bounds[i]), int(self.bounds[i + 1]))

    def subset(self, keep: np.ndarray) -> AlignedTurns:
        """The table restricted to the dialogues where ``keep`` (one bool per dialogue) is true."""
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != (self.n_dialogues,):
            raise ValueError(f"keep has shape {keep.shape}; expected ({self.n_dialogues},)")
        row_keep = keep[self.groups] if self.n_turns else np.zeros(0, dtype=bool)
        sizes = np.diff(self.bounds)[keep]
        return AlignedTurns(
            tuple(d for d, k in zip(self.dialogue_ids, keep, strict=True) if k),
            np.concatenate([[0], np.cumsum(sizes)]).astype(int),
            self.y_true[row_keep],
            self.y_pred[row_keep],
            self.ok[row_keep],
        )

    @classmethod
    def from_label_sets(
        cls,
        gold: Sequence[Sequence[Sequence[str]]],
        pred: Sequence[Sequence[Sequence[str]]],
        ok: Sequence[Sequence[bool]] | None = None,
        dialogue_ids: Sequence[str] | None = None,
    ) -> AlignedTurns:
        """Build a table from label lists: one list per dialogue, one label list per user turn.

        Parameters
        ----------
        gold, pred : sequence of sequences of label collections
            ``gold[i][t]`` holds the gold labels of user turn ``t`` of dialogue ``i``.
        ok : optional
            ``ok[i][t]`` is False where that prediction failed (its labels are then ignored).
        dialogue_ids : sequence of str, optional
            Defaults to ``d0``, ``d1``, ...

        Raises
        ------
        ValueError
            When the two sides differ in shape or hold a string that is no dialogue label.
        """
        if len(gold) != len(pred):
            raise ValueError(f"gold has {len(gold)} dialogues but pred has {len(pred)}")
        for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
            if len(g) != len(p):
                raise ValueError(f"dialogue {i}: gold has {len(g)} user turns but pred has {len(p)}")
        ids = tuple(dialogue_ids) if dialogue_ids is not None else tuple(f"d{i}" for i in range(len(gold)))
        if len(ids) != len(gold):
            raise ValueError(f"{len(ids)} dialogue ids for {len(gold)} dialogues")
        flags = np.array([bool(x) for d in ok for x in d], dtype=bool) if ok is not None else None
        gold_rows = [[_canonical(x) for x in turn] for d in gold for turn in d]
        pred_rows = [[_canonical(x) for x in turn] for d in pred for turn in d]
        if flags is None:
            flags = np.ones(len(gold_rows), dtype=bool)
        if flags.shape != (len(gold_rows),):
            raise ValueError(f"ok has {flags.size} flags for {len(gold_rows)} user turns")
        yp = label_matrix(pred_rows, LABELS)
        yp[~flags] = False
        bounds = np.concatenate([[0], np.cumsum([len(d) for d in gold])]).astype(int)
        return cls(ids, bounds, label_matrix(gold_rows, LABELS), yp, flags)


def _canonical(label: str | DialogueLabel) -> str:
    return normalize_dialogue_label(label.value if isinstance(label, DialogueLabel) else str(label)).value


def align_dialogue_predictions(dialogues: Sequence[Dialogue], predictions: Sequence[Prediction]) -> AlignedTurns:
    """Match one prediction to every user turn by its id ``"<dialogue id>:<turn_id>"``.

    Parameters
    ----------
    dialogues : sequence of Dialogue
        Gold dialogues.
    predictions : sequence of Prediction
        One per user turn, in any order.

    Returns
    -------
    AlignedTurns

    Raises
    ------
    DataError
        For duplicate dialogue ids, user turns without a prediction, predictions that match no
        user turn (a listener turn included), and predicted strings that are no dialogue label;
        each issue counts the cases and shows a few ids.
    """
    issues: list[RowIssue] = []
    dupes = repeated_ids(d.id for d in dialogues)
    if dupes:
        issues.append(RowIssue("gold", 0, "id", f"{len(dupes)} duplicate dialogue id(s), e.g. {dupes[:5]}"))
    item_ids = [d.item_id(t) for d in dialogues for t in d.user_turns]
    issues += id_issues(
        compare_ids(item_ids, (p.id for p in predictions)),
        "predictions",
        repeated="{n} repeated prediction id(s), e.g. {ids}",
        unnamed="{n} prediction(s) carry no id",
        missing="{n} user turn(s) have no prediction, e.g. {ids}",
        extra="{n} prediction(s) match no user turn (ids are DIALOGUE:TURN_ID of user turns), e.g. {ids}",
    )
    by_id: dict[str, Prediction] = {}
    for p in predictions:
        if p.id is not None:
            by_id.setdefault(p.id, p)
    pred_rows: list[list[str]] = []
    flags: list[bool] = []
    for item in item_ids:
        p = by_id.get(item)
        if p is None:
            continue
        labels: list[str] = []
        if p.ok:
            for lab in p.labels:
                try:
                    labels.append(_canonical(lab))
                except UnknownLabelError as exc:
                    issues.append(RowIssue("predictions", 0, "labels", f"{item}: {exc}"))
        pred_rows.append(labels)
        flags.append(p.ok)
    if issues:
        raise DataError(issues)
    gold_rows = [[_canonical(x) for x in t.labels] for d in dialogues for t in d.user_turns]
    bounds = np.concatenate([[0], np.cumsum([len(d.user_turns) for d in dialogues])]).astype(int)
    return AlignedTurns(
        tuple(d.id for d in dialogues),
        bounds,
        label_matrix(gold_rows, LABELS),
        label_matrix(pred_rows, LABELS),
        np.array(flags, dtype=bool),
    )


def _nan_scores(labels: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {k: float("nan") for k in SCALAR_METRICS}
    out["per_label"] = {
        lab: {"precision": float("nan"), "recall": float("nan"), "f1": float("nan"), "support": 0} for lab in labels
    }
    return out


def _scores(
    yt: np.ndarray,
    yp: np.ndarray,
    labels: Sequence[str],
    groups: np.ndarray | None,
    bootstrap: int,
    seed: int,
    zero_division: ZeroDivision,
) -> dict[str, Any]:
    if yt.shape[0] == 0:
        return _nan_scores(labels)
    out = multilabel_scores(yt, yp, labels=labels, zero_division=zero_division, jaccard_zero_division=1.0)
    if bootstrap:
        out["ci"] = bootstrap_ci(
            yt,
            yp,
            n_resamples=bootstrap,
            seed=seed,
            groups=None if groups is None else groups.tolist(),
            zero_division=zero_division,
            jaccard_zero_division=1.0,
        )
    return out


def turn_level_scores(
    aligned: AlignedTurns, *, bootstrap: int = 0, seed: int = 0, zero_division: ZeroDivision = "warn"
) -> dict[str, Any]:
    """Multi-label scores over user turns and the 16 labels.

    Two empty sets agree (Jaccard 1, exact match). Intervals resample whole dialogues.

    Parameters
    ----------
    aligned : AlignedTurns
    bootstrap : int, default=0
        Resamples for 95% percentile intervals (0: none).
    seed : int, default=0
    zero_division : {"warn", 0.0, 1.0, nan}
        Value of every 0/0 in precision, recall and F1, as in scikit-learn.

    Returns
    -------
    dict
        The keys of :data:`cradle.metrics.SCALAR_METRICS`, ``per_label`` and, with a bootstrap,
        ``ci``.

    Examples
    --------
    >>> a = AlignedTurns.from_label_sets([[["alert_past"], ["confirm_RA_past"]]], [[["alert_past"], []]])
    >>> s = turn_level_scores(a)
    >>> s["micro_f1"], s["exact_match"]
    (0.6666666666666666, 0.5)
    """
    return _scores(aligned.y_true, aligned.y_pred, LABELS, aligned.groups, bootstrap, seed, zero_division)


def confirm_only_scores(
    aligned: AlignedTurns, *, bootstrap: int = 0, seed: int = 0, zero_division: ZeroDivision = "warn"
) -> dict[str, Any]:
    """Turn-level scores over the 14 confirm labels alone (alerts removed from both sides).

    Examples
    --------
    >>> a = AlignedTurns.from_label_sets([[["alert_past"], ["confirm_RA_past"]]], [[["alert_past"], []]])
    >>> confirm_only_scores(a)["micro_recall"]
    0.0
    """
    cols = _CONFIRM_COLUMNS
    return _scores(
        aligned.y_true[:, cols], aligned.y_pred[:, cols], CONFIRM_LABELS, aligned.groups, bootstrap, seed, zero_division
    )


def _union_by_dialogue(aligned: AlignedTurns, y: np.ndarray) -> np.ndarray:
    out = np.zeros((aligned.n_dialogues, y.shape[1]), dtype=bool)
    for i in range(aligned.n_dialogues):
        out[i] = y[aligned.rows(i)].any(axis=0)
    return out


def dialogue_level_scores(
    aligned: AlignedTurns, *, bootstrap: int = 0, seed: int = 0, zero_division: ZeroDivision = "warn"
) -> dict[str, Any]:
    """Multi-label scores with one item per dialogue: the union of its labels, timing ignored.

    Examples
    --------
    >>> a = AlignedTurns.from_label_sets([[["alert_past"], ["confirm_RA_past"]]], [[["confirm_RA_past"], []]])
    >>> dialogue_level_scores(a)["micro_precision"]
    1.0
    """
    yt = _union_by_dialogue(aligned, aligned.y_true)
    yp = _union_by_dialogue(aligned, aligned.y_pred)
    return _scores(yt, yp, LABELS, None, bootstrap, seed, zero_division)


def tolerance_matches(gold: Sequence[int], pred: Sequence[int], tolerance: int) -> int:
    """Largest number of one-to-one pairs ``(g, p)`` with ``|g - p| <= tolerance``.

    Both sides are positions (user-turn indices) of one label in one dialogue. Matching sorted
    points greedily, each gold to the earliest prediction still in its window, is optimal on a
    line.

    Examples
    --------
    >>> tolerance_matches([3], [2, 4], 1)
    1
    >>> tolerance_matches([1, 5], [0, 4, 9], 1)
    2
    >>> tolerance_matches([3], [5], 1)
    0
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0; got {tolerance}")
    g, p = sorted(gold), sorted(pred)
    i = j = matched = 0
    while i < len(g) and j < len(p):
        if p[j] < g[i] - tolerance:
            j += 1
        elif p[j] > g[i] + tolerance:
            i += 1
        else:
            matched += 1
            i += 1
            j += 1
    return matched


# Per-dialogue sufficient statistics of the timing metrics (columns of one array).
_OUTCOMES = ("early", "on_time", "late", "missed")
_KINDS = ("alert", "confirm")
_STATS = (
    *(f"{k}_{kind}" for kind in _KINDS for k in ("gold", *_OUTCOMES)),
    "warned",
    "false_alarms",
    "empty",
    "empty_alarmed",
    "tol_tp",
    "tol_pred",
    "tol_gold",
)
_S = {k: j for j, k in enumerate(_STATS)}


def _dialogue_timing(yt: np.ndarray, yp: np.ndarray, tolerance: int) -> tuple[np.ndarray, list[tuple[str, int]]]:
    """Statistics of one dialogue and the (kind, offset) of each detected gold label."""
    s = np.zeros(len(_STATS))
    offsets: list[tuple[str, int]] = []
    gold_any = yt.any(axis=0)
    pred_any = yp.any(axis=0)
    first_pred = np.where(pred_any, yp.argmax(axis=0), -1) if yp.shape[0] else np.full(yp.shape[1], -1)
    for j in np.flatnonzero(gold_any):
        kind = "alert" if _IS_ALERT[j] else "confirm"
        for g in np.flatnonzero(yt[:, j]):
            s[_S[f"gold_{kind}"]] += 1
            if first_pred[j] < 0:
                outcome = "missed"
            else:
                off = int(first_pred[j] - g)
                offsets.append((kind, off))
                outcome = "early" if off < 0 else "on_time" if off == 0 else "late"
            s[_S[f"{outcome}_{kind}"]] += 1
            if kind == "confirm":
                s[_S["warned"]] += float(yp[: g + 1, j].any() or yp[: g + 1, _FRAME_ALERT[j]].any())
    s[_S["false_alarms"]] = float((pred_any & ~gold_any).sum())
    if not gold_any.any():
        s[_S["empty"]] = 1.0
        s[_S["empty_alarmed"]] = float(pred_any.any())
    for j in np.flatnonzero(gold_any | pred_any):
        s[_S["tol_tp"]] += tolerance_matches(np.flatnonzero(yt[:, j]).tolist(), np.flatnonzero(yp[:, j]).tolist(), tolerance)
    s[_S["tol_pred"]] = float(yp.sum())
    s[_S["tol_gold"]] = float(yt.sum())
    return s, offsets


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _rates(t: Mapping[str, np.ndarray], n_dialogues: np.ndarray | float) -> dict[str, np.ndarray]:
    gold = t["gold_alert"] + t["gold_confirm"]
    out = {f"{k}_rate": _ratio(t[f"{k}_alert"] + t[f"{k}_confirm"], gold) for k in _OUTCOMES}
    tp, n_pred, n_gold = t["tol_tp"], t["tol_pred"], t["tol_gold"]
    out.update(
        {
            "early_warning_rate": _ratio(t["warned"], t["gold_confirm"]),
            "false_alarms_per_dialogue": _ratio(t["false_alarms"], n_dialogues),
            "false_alarm_dialogue_rate": _ratio(t["empty_alarmed"], t["empty"]),
            "tolerance_precision": np.where(n_pred > 0, _ratio(tp, n_pred), 0.0),
            "tolerance_recall": np.where(n_gold > 0, _ratio(tp, n_gold), 0.0),
            "tolerance_f1": np.where(n_pred + n_gold > 0, _ratio(2 * tp, n_pred + n_gold), 0.0),
        }
    )
    return out


def _offset_summary(offsets: Sequence[int]) -> dict[str, float]:
    if not offsets:
        return {"mean_offset": float("nan"), "median_offset": float("nan")}
    arr = np.asarray(offsets, dtype=float)
    return {"mean_offset": float(arr.mean()), "median_offset": float(np.median(arr))}


def timing_scores(aligned: AlignedTurns, *, tolerance: int = 1, bootstrap: int = 0, seed: int = 0) -> dict[str, Any]:
    """When labels are raised, against when they first appear in the gold data.

    Positions are user-turn indices within a dialogue (listener turns are not counted).

    Parameters
    ----------
    aligned : AlignedTurns
    tolerance : int, default=1
        Window ``k`` of the tolerance F1: a prediction of label ``L`` at user turn ``p`` matches
        a gold ``L`` at ``g`` of the same dialogue when ``|p - g| <= k`` (one-to-one).
    bootstrap : int, default=0
        Resamples of whole dialogues for 95% percentile intervals of :data:`TIMING_RATES`.
    seed : int, default=0

    Returns
    -------
    dict
        ``tolerance``; counts ``n_gold``, ``early``, ``on_time``, ``late``, ``missed`` over all
        gold labels; the rates of :data:`TIMING_RATES`; ``mean_offset`` and ``median_offset``
        over detected gold labels; ``by_kind`` (the same counts and offsets for alerts and for
        confirms); and, with a bootstrap, ``ci``. A rate whose denominator is 0 is NaN, except
        the tolerance precision, recall and F1, which follow ``zero_division=0``.

    Examples
    --------
    >>> a = AlignedTurns.from_label_sets([[[], ["confirm_SH_past"], []]], [[[], [], ["confirm_SH_past"]]])
    >>> t = timing_scores(a, tolerance=1)
    >>> t["late"], t["tolerance_f1"], t["mean_offset"]
    (1, 1.0, 1.0)
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0; got {tolerance}")
    n = aligned.n_dialogues
    stats = np.zeros((n, len(_STATS)))
    offsets: list[tuple[str, int]] = []
    for i in range(n):
        rows = aligned.rows(i)
        stats[i], found = _dialogue_timing(aligned.y_true[rows], aligned.y_pred[rows], tolerance)
        offsets.extend(found)
    total = {k: stats[:, j].sum() for k, j in _S.items()}

    def counts(kinds: tuple[str, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {"n_gold": int(sum(total[f"gold_{kind}"] for kind in kinds))}
        for k in _OUTCOMES:
            out[k] = int(sum(total[f"{k}_{kind}"] for kind in kinds))
        out.update(_offset_summary([o for kind, o in offsets if kind in kinds]))
        return out

    result: dict[str, Any] = {"tolerance": int(tolerance), **counts(_KINDS)}
    result.update({k: float(v) for k, v in _rates(total, float(n)).items()})
    result["by_kind"] = {kind: counts((kind,)) for kind in _KINDS}
    if bootstrap and n:
        w = bootstrap_weights(n, bootstrap, seed)
        r = _rates({k: w @ stats[:, j] for k, j in _S.items()}, w.sum(axis=1))
        result["ci"] = {k: _percentile_interval(r[k]) for k in TIMING_RATES}
    return result


def monitor_scores(aligned: AlignedTurns) -> dict[str, Any]:
    """What a builder asks of a conversation monitor: quiet on ordinary chats, alerts that work,
    and how long a crisis takes to be noticed.

    Parameters
    ----------
    aligned : AlignedTurns

    Returns
    -------
    dict
        - ``n_ordinary``: dialogues without any gold label;
        - ``ordinary_confirm_rate``: share of them where a confirm label was raised;
        - ``ordinary_alarm_rate``: share where any label (alert or confirm) was raised;
        - ``false_alarms_per_100_ordinary``: labels raised in them, per 100 such dialogues;
        - ``alert``: turn-level ``precision``, ``recall``, ``f1`` over the two alert labels
          (exact turn), with ``gold`` and ``predicted`` counts, and the same at dialogue level
          (``dialogue_precision``, ``dialogue_recall``);
        - ``time_to_detection``: over dialogues with a gold label, user turns from the first gold
          label (of any kind) to the first raised label (``mean``, ``median``; negative is
          early), ``detected`` (share of those dialogues with any raise at all) and ``n``.

        A share whose denominator is 0 is NaN.

    Examples
    --------
    >>> a = AlignedTurns.from_label_sets([[[], ["alert_past"], ["confirm_SH_past"]], [[], []]],
    ...                                  [[["alert_past"], [], ["confirm_SH_past"]], [[], ["confirm_DV_ongoing"]]])
    >>> m = monitor_scores(a)
    >>> m["ordinary_confirm_rate"], m["false_alarms_per_100_ordinary"], m["time_to_detection"]["mean"]
    (1.0, 100.0, -1.0)
    """
    alert_cols = _IS_ALERT
    n = aligned.n_dialogues
    ordinary = confirmed = alarmed = raised_ordinary = 0
    offsets: list[int] = []
    with_gold = detected = 0
    d_tp = d_gold = d_pred = 0
    for i in range(n):
        rows = aligned.rows(i)
        yt, yp = aligned.y_true[rows], aligned.y_pred[rows]
        if not yt.any():
            ordinary += 1
            confirmed += int(yp[:, ~alert_cols].any())
            alarmed += int(yp.any())
            raised_ordinary += int(yp.sum())
        else:
            with_gold += 1
            first_gold = int(np.flatnonzero(yt.any(axis=1))[0])
            hits = np.flatnonzero(yp.any(axis=1))
            if hits.size:
                detected += 1
                offsets.append(int(hits[0]) - first_gold)
        g, p = yt[:, alert_cols].any(), yp[:, alert_cols].any()
        d_tp += int(g and p)
        d_gold += int(g)
        d_pred += int(p)
    t = aligned.y_true[:, alert_cols]
    q = aligned.y_pred[:, alert_cols]
    tp, n_gold, n_pred = int((t & q).sum()), int(t.sum()), int(q.sum())
    nan = float("nan")
    prec = tp / n_pred if n_pred else nan
    rec = tp / n_gold if n_gold else nan
    f1 = 2 * tp / (n_gold + n_pred) if n_gold + n_pred else nan
    arr = np.asarray(offsets, dtype=float)
    return {
        "n_ordinary": ordinary,
        "ordinary_confirm_rate": confirmed / ordinary if ordinary else nan,
        "ordinary_alarm_rate": alarmed / ordinary if ordinary else nan,
        "false_alarms_per_100_ordinary": 100.0 * raised_ordinary / ordinary if ordinary else nan,
        "alert": {
            "precision": prec, "recall": rec, "f1": f1, "gold": n_gold, "predicted": n_pred,
            "dialogue_precision": d_tp / d_pred if d_pred else nan, "dialogue_recall": d_tp / d_gold if d_gold else nan,
        },
        "time_to_detection": {
            "mean": float(arr.mean()) if arr.size else nan,
            "median": float(np.median(arr)) if arr.size else nan,
            "detected": detected / with_gold if with_gold else nan,
            "n": with_gold,
        },
    }


def _percentile_interval(values: np.ndarray, confidence: float = 0.95) -> list[float]:
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return [float("nan"), float("nan")]
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.percentile(finite, [100 * alpha, 100 * (1 - alpha)])
    return [float(lo), float(hi)]


#: The label settings of a dialogue score, by key; each maps an :class:`AlignedTurns` to a
#: score object. Swap or extend this to change what :func:`score_dialogues` reports.
SETTINGS: dict[str, Callable[..., dict[str, Any]]] = {
    "turn_level": turn_level_scores,
    "dialogue_level": dialogue_level_scores,
    "confirm_only": confirm_only_scores,
}


def score_dialogues(
    dialogues: Sequence[Dialogue],
    predictions: Sequence[Prediction],
    *,
    bootstrap: int = 0,
    seed: int = 0,
    tolerance: int = 1,
    zero_division: ZeroDivision = "warn",
) -> dict[str, Any]:
    """Score turn predictions against gold dialogues in every Alert-Confirm setting.

    Parameters
    ----------
    dialogues : sequence of Dialogue
        Gold dialogues (their user turns carry the labels that first appear there).
    predictions : sequence of Prediction
        One per user turn, with id ``"<dialogue id>:<turn_id>"``; the labels newly raised at
        that turn. A non-``ok`` status counts as an empty set.
    bootstrap : int, default=0
        Resamples of whole dialogues for 95% percentile intervals (0: none).
    seed : int, default=0
    tolerance : int, default=1
        Window, in user turns, of the tolerance F1 in ``timing``.
    zero_division : {"warn", 0.0, 1.0, nan}
        Value of 0/0 in precision, recall and F1, as in scikit-learn.

    Returns
    -------
    dict
        ``{"n_dialogues", "n_user_turns", "n_invalid_turns", "n_valid_dialogues",
        "turn_level": M, "dialogue_level": M, "confirm_only": M, "timing": {...}, "monitor": {...},
        "valid_only": {"turn_level": M, "dialogue_level": M, "confirm_only": M}}``, where ``M``
        holds the keys of :data:`cradle.metrics.SCALAR_METRICS`, ``per_label`` and, with a
        bootstrap, ``ci``.

    Raises
    ------
    DataError
        When predictions and user turns do not match one to one (see
        :func:`align_dialogue_predictions`).
    ValueError
        When there is no dialogue, or no user turn, to score.

    Examples
    --------
    >>> from cradle.data import Turn
    >>> d = Dialogue("d0", (Turn(0, "user", "hi"), Turn(1, "listener", "hello"), Turn(2, "user", "x", ("alert_past",))))
    >>> preds = [Prediction(id="d0:0"), Prediction(labels=("alert_past",), id="d0:2")]
    >>> r = score_dialogues([d], preds)
    >>> r["turn_level"]["micro_f1"], r["timing"]["on_time"]
    (1.0, 1)
    """
    if not dialogues:
        raise ValueError("no dialogues to score")
    aligned = align_dialogue_predictions(dialogues, predictions)
    if aligned.n_turns == 0:
        raise ValueError(f"the {aligned.n_dialogues} dialogue(s) have no user turn to score")
    opts = {"bootstrap": bootstrap, "seed": seed, "zero_division": zero_division}
    valid = aligned.subset(aligned.dialogue_ok)
    out: dict[str, Any] = {
        "n_dialogues": aligned.n_dialogues,
        "n_user_turns": aligned.n_turns,
        "n_invalid_turns": int((~aligned.ok).sum()),
        "n_valid_dialogues": valid.n_dialogues,
    }
    for key, setting in SETTINGS.items():
        out[key] = setting(aligned, **opts)
    out["timing"] = timing_scores(aligned, tolerance=tolerance, bootstrap=bootstrap, seed=seed)
    out["monitor"] = monitor_scores(aligned)
    out["valid_only"] = {key: setting(valid, **opts) for key, setting in SETTINGS.items()}
    return out
