"""``cradle report``: one self-contained HTML file comparing runs, with inline SVG charts.

A run is a directory holding ``predictions.jsonl`` and, as written by ``cradle evaluate``,
``scores.json`` and ``manifest.json``. A run without ``manifest.json`` is named by its folder;
a run without ``scores.json`` is scored here when gold data is given.

The report has, for post runs: a leaderboard ranked by micro F1 over all samples with 95%
intervals; the "valid only" against "all samples" view with the status counts; per-label
precision, recall and F1; and, when gold data is available, the ongoing-against-past
confusions. For dialogue runs: the three settings (turn level, dialogue level, confirm only),
per-label turn-level scores and the timing metrics. The file loads nothing from the network:
styles are inline and charts are SVG, with values in hover titles and in tables beside them.

Examples
--------
>>> import json, tempfile, pathlib
>>> run = pathlib.Path(tempfile.mkdtemp()) / "my-run"
>>> run.mkdir()
>>> _ = (run / "predictions.jsonl").write_text(json.dumps({"id": "a", "labels": ["no_crisis"]}) + "\\n")
>>> write_report([run], run.parent / "report.html").name
'report.html'
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any, Literal

from cradle import __version__
from cradle.data import DataError, Dataset, Post, Prediction, Status, load_dataset, read_predictions
from cradle.data.datasets import DATASET_FILES
from cradle.labels import DIALOGUE_LABELS, POST_LABELS, CrisisType, TimeFrame, post_label
from cradle.metrics.audit import DESCRIPTIONS, ERROR_CLASSES, RULE_VIOLATIONS
from cradle.pipelines.runs.audit import audit_predictions

__all__ = ["RunReport", "load_run", "frame_confusions", "render_report", "write_report"]

Kind = Literal["posts", "dialogues"]

_TEMPLATE_DIR = Path(__file__).parent / "templates"
#: Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#8C6D1F", "#000000")
_STATUS_COLORS = {"ok": "#3a7d44", "invalid": "#E69F00", "blocked": "#D55E00", "error": "#9b1c1c", "disagreement": "#7a6fb0"}
_TIMING_COLORS = {"early": "#56B4E9", "on_time": "#009E73", "late": "#E69F00", "missed": "#b8bec6"}
_SETTING_NAMES = {"turn_level": "turn level", "dialogue_level": "dialogue level", "confirm_only": "confirm only"}
_FRAMES = ("ongoing", "past", "absent")
_PAD = 14  # horizontal padding of the interval charts, room for the tick labels


# -- loading --------------------------------------------------------------------------------


@dataclass
class RunReport:
    """What the report knows about one run.

    Attributes
    ----------
    name : str
        From ``manifest.json`` (``name``) or the folder name.
    path : Path
    kind : {"posts", "dialogues"}
    model : str or None
        The detector spec recorded in the manifest.
    dataset : str or None
        The dataset name recorded in the manifest.
    created : str or None
    scores : dict or None
        ``scores.json`` (or scores computed from gold data).
    status_counts : dict
        Predictions by status.
    predictions : list of Prediction
    notes : list of str
        What is missing and why a section is left out.
    """

    name: str
    path: Path
    kind: Kind
    model: str | None
    dataset: str | None
    created: str | None
    scores: dict[str, Any] | None
    status_counts: dict[str, int]
    predictions: list[Prediction]
    notes: list[str] = field(default_factory=list)
    color: str = PALETTE[0]


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError.single(path, f"not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DataError.single(path, "must hold a JSON object")
    return data


def _kind_of(scores: Mapping[str, Any] | None, manifest: Mapping[str, Any] | None, predictions: Sequence[Prediction]) -> Kind:
    if scores:
        if "turn_level" in scores:
            return "dialogues"
        if "all_samples" in scores or "valid_only" in scores:
            return "posts"
    settings_kind = ((manifest or {}).get("settings") or {}).get("kind")
    if settings_kind in ("turn", "dialogue", "dialogues"):
        return "dialogues"
    if settings_kind in ("post", "posts"):
        return "posts"
    for p in predictions:
        if p.labels:
            return "dialogues" if p.labels[0].startswith(("alert_", "confirm_")) else "posts"
    return "posts"


def load_run(path: str | Path) -> RunReport:
    """Read a run directory (``predictions.jsonl``; ``scores.json`` and ``manifest.json`` when present).

    Raises
    ------
    DataError
        When the folder does not exist, has no ``predictions.jsonl``, or holds a bad file.
    """
    run_dir = Path(path).expanduser()
    if not run_dir.is_dir():
        raise DataError.single(run_dir, "not a run directory (expected a folder holding predictions.jsonl)")
    pred_file = run_dir / "predictions.jsonl"
    if not pred_file.is_file():
        raise DataError.single(run_dir, "run directory has no predictions.jsonl")
    manifest = _read_json(run_dir / "manifest.json")
    scores = _read_json(run_dir / "scores.json")
    predictions = read_predictions(pred_file, tolerate_torn_tail=True)
    settings = (manifest or {}).get("settings") or {}
    detector = settings.get("detector") or {}
    dataset = settings.get("dataset") or {}
    name = str((manifest or {}).get("name") or run_dir.resolve().name)
    counts = Counter(p.status.value for p in predictions)
    notes = []
    if manifest is None:
        notes.append("no manifest.json: named after its folder")
    if scores is None:
        notes.append("no scores.json")
    return RunReport(
        name=name,
        path=run_dir,
        kind=_kind_of(scores, manifest, predictions),
        model=detector.get("spec") if isinstance(detector, dict) else None,
        dataset=dataset.get("name") if isinstance(dataset, dict) else None,
        created=(manifest or {}).get("created"),
        scores=scores,
        status_counts={s.value: counts.get(s.value, 0) for s in Status if counts.get(s.value, 0) or s is Status.OK},
        predictions=predictions,
        notes=notes,
    )


def _gold_is_local(name: str) -> bool:
    import os

    if name.startswith("synthetic:") or Path(name).expanduser().exists():
        return True
    return name in DATASET_FILES and bool(os.environ.get("CRADLE_DATA_DIR"))


def _load_gold(
    gold: str | Path | Dataset | None, runs: Sequence[RunReport], data_dir: str | Path | None
) -> tuple[dict[str, Dataset], list[str]]:
    """Gold data by kind: the one given, else the dataset the manifests of each kind name."""
    if gold is not None:
        dataset = gold if not isinstance(gold, (str, Path)) else load_dataset(str(gold), data_dir)
        return {dataset.kind: dataset}, []
    found: dict[str, Dataset] = {}
    notes: list[str] = []
    for kind in ("posts", "dialogues"):
        names = {r.dataset for r in runs if r.kind == kind and r.dataset}
        if len(names) != 1:
            continue
        spec = names.pop()
        if not (_gold_is_local(spec) or data_dir):
            notes.append(
                f"gold data {spec!r} (named in the manifests) is not available offline; pass --gold to add what needs it"
            )
            continue
        try:
            dataset = load_dataset(spec, data_dir)
        except DataError as exc:
            notes.append(f"gold data {spec!r} (named in the manifests) could not be read: {str(exc).splitlines()[-1].strip()}")
            continue
        if dataset.kind == kind:
            found[kind] = dataset
    return found, notes


def _score_missing(runs: Sequence[RunReport], gold: Mapping[str, Dataset]) -> None:
    from cradle.pipelines.runs.scoring import json_safe

    for run in runs:
        dataset = gold.get(run.kind)
        if run.scores is not None or dataset is None:
            continue
        try:
            if run.kind == "posts":
                from cradle.pipelines.runs.scoring import score_posts

                run.scores = json_safe(score_posts(dataset.posts, run.predictions, bootstrap=1000))  # type: ignore[union-attr]
            else:
                from cradle.metrics.dialogue import score_dialogues

                run.scores = json_safe(score_dialogues(dataset.dialogues, run.predictions, bootstrap=1000))  # type: ignore[union-attr]
            run.notes.append(f"scored here against {dataset.name} (1,000 bootstrap resamples)")
        except (DataError, ValueError) as exc:
            run.notes.append(f"could not be scored against {dataset.name}: {str(exc).splitlines()[0]}")


# -- numbers --------------------------------------------------------------------------------


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) or math.isinf(f) else f


def _fmt(value: Any, digits: int = 3) -> str:
    f = _num(value)
    return "–" if f is None else f"{f:.{digits}f}"


def _ci(m: Mapping[str, Any] | None, key: str) -> tuple[float, float] | None:
    ci = ((m or {}).get("ci") or {}).get(key)
    if not ci or len(ci) != 2:
        return None
    lo, hi = _num(ci[0]), _num(ci[1])
    return (lo, hi) if lo is not None and hi is not None else None


def _ci_text(m: Mapping[str, Any] | None, key: str) -> str:
    ci = _ci(m, key)
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""


# -- confusions -----------------------------------------------------------------------------


def _frame(labels: Sequence[str], crisis: CrisisType) -> str:
    if post_label(crisis, TimeFrame.ONGOING).value in labels:
        return "ongoing"
    if post_label(crisis, TimeFrame.PAST).value in labels:
        return "past"
    return "absent"


def frame_confusions(posts: Sequence[Post], predictions: Sequence[Prediction]) -> dict[str, Any]:
    """Gold time frame against predicted time frame, per crisis type, over ``ok`` predictions.

    For every post and crisis type present on either side, the gold frame (ongoing, past or
    absent) is counted against the predicted one.

    Returns
    -------
    dict
        ``{"n_posts": int, "total": 3x3 list, "by_type": {type: 3x3 list}}``; rows are the gold
        frame and columns the predicted frame, both in the order ongoing, past, absent.

    Examples
    --------
    >>> from cradle.data import Post, Prediction
    >>> from cradle.labels import PostLabel
    >>> posts = [Post("a", "t", (PostLabel.SELFHARM_PAST,))]
    >>> frame_confusions(posts, [Prediction(("selfharm_ongoing",), id="a")])["total"][1]
    [1, 0, 0]
    """
    by_id = {p.id: p for p in predictions}
    by_type = {t.value: [[0, 0, 0] for _ in _FRAMES] for t in CrisisType}
    n = 0
    for post in posts:
        pred = by_id.get(post.id)
        if pred is None or not pred.ok or post.labels is None:
            continue
        n += 1
        gold = [x.value for x in post.labels]
        for t in CrisisType:
            g, p = _frame(gold, t), _frame(pred.labels, t)
            if g == "absent" and p == "absent":
                continue
            by_type[t.value][_FRAMES.index(g)][_FRAMES.index(p)] += 1
    total = [[sum(m[i][j] for m in by_type.values()) for j in range(3)] for i in range(3)]
    return {"n_posts": n, "total": total, "by_type": by_type}


# -- SVG charts -----------------------------------------------------------------------------


def _svg(width: float, height: float, body: str, label: str) -> str:
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{escape(label)}">{body}</svg>'


def _title(text: str) -> str:
    return f"<title>{escape(text)}</title>"


def _domain(values: Sequence[float | None], pad: float = 0.05) -> tuple[float, float]:
    vals = [v for v in values if v is not None]
    if not vals:
        return 0.0, 1.0
    lo, hi = max(0.0, min(vals) - pad), min(1.0, max(vals) + pad)
    lo, hi = math.floor(lo * 10) / 10, math.ceil(hi * 10) / 10
    return (lo, hi) if hi > lo else (max(0.0, lo - 0.1), min(1.0, hi + 0.1))


def _ticks(lo: float, hi: float) -> list[float]:
    step = 0.1 if hi - lo <= 0.6 else 0.2
    out, v = [], lo
    while v <= hi + 1e-9:
        out.append(round(v, 2))
        v += step
    return out


def _forest_axis(domain: tuple[float, float], width: int = 220) -> str:
    lo, hi = domain
    x = lambda v: _PAD + (v - lo) / (hi - lo) * (width - 2 * _PAD)  # noqa: E731
    parts = [f'<line x1="{_PAD}" y1="17" x2="{width - _PAD}" y2="17" stroke="#9aa3ad"/>']
    for t in _ticks(lo, hi):
        parts.append(f'<line x1="{x(t):.1f}" y1="13" x2="{x(t):.1f}" y2="17" stroke="#9aa3ad"/>')
        parts.append(f'<text x="{x(t):.1f}" y="10" font-size="10" text-anchor="middle" fill="#5b6570">{t:.1f}</text>')
    return _svg(width, 20, "".join(parts), "axis")


def _forest_row(
    value: float | None, ci: tuple[float, float] | None, domain: tuple[float, float], color: str, label: str, width: int = 220
) -> str:
    lo, hi = domain
    x = lambda v: _PAD + (min(max(v, lo), hi) - lo) / (hi - lo) * (width - 2 * _PAD)  # noqa: E731
    parts = [f'<line x1="{x(t):.1f}" y1="0" x2="{x(t):.1f}" y2="22" stroke="#eef0f3"/>' for t in _ticks(lo, hi)]
    if ci is not None:
        parts.append(
            f'<line x1="{x(ci[0]):.1f}" y1="11" x2="{x(ci[1]):.1f}" y2="11" stroke="{color}" stroke-width="2.5" stroke-linecap="round"/>'
        )
        for end in ci:
            parts.append(f'<line x1="{x(end):.1f}" y1="6" x2="{x(end):.1f}" y2="16" stroke="{color}" stroke-width="1.5"/>')
    if value is not None:
        text = f"{label}: {value:.3f}" + (f" (95% CI {ci[0]:.3f} to {ci[1]:.3f})" if ci else "")
        parts.append(
            f'<circle cx="{x(value):.1f}" cy="11" r="5" fill="{color}" stroke="#fff" stroke-width="1.5">{_title(text)}</circle>'
        )
    return _svg(width, 22, "".join(parts), label)


def _stacked(counts: Mapping[str, int], colors: Mapping[str, str], label: str, width: int = 200, height: int = 16) -> str:
    total = sum(counts.values())
    if total == 0:
        return _svg(width, height, f'<rect width="{width}" height="{height}" fill="#eef0f3"/>', label)
    parts, x = [], 0.0
    for key, n in counts.items():
        if not n:
            continue
        w = n / total * width
        parts.append(
            f'<rect x="{x:.2f}" y="0" width="{w:.2f}" height="{height}" fill="{colors.get(key, "#888")}">{_title(f"{key}: {n} ({100 * n / total:.1f}%)")}</rect>'
        )
        x += w
    return _svg(width, height, "".join(parts), label)


def _bar_panels(
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Mapping[str, Mapping[str, Any]]]],
    metrics: Sequence[str],
    support: Mapping[str, int],
    title: str,
) -> str:
    """Horizontal grouped bars: one row per label, one bar per run, one panel per metric."""
    n_runs = max(1, len(series))
    bar, gap = 7, 1
    row_h = n_runs * (bar + gap) + 9
    label_w, panel_w, panel_gap, top = 250, 190, 22, 28
    width = label_w + len(metrics) * (panel_w + panel_gap)
    height = top + len(labels) * row_h + 22
    parts = []
    for k, metric in enumerate(metrics):
        x0 = label_w + k * (panel_w + panel_gap)
        parts.append(f'<text x="{x0}" y="14" font-size="12" font-weight="600" fill="#1d2329">{escape(metric)}</text>')
        for t in (0.0, 0.25, 0.5, 0.75, 1.0):
            xt = x0 + t * panel_w
            parts.append(
                f'<line x1="{xt:.1f}" y1="{top - 6}" x2="{xt:.1f}" y2="{height - 18}" stroke="{"#c9cfd6" if t in (0.0, 1.0) else "#eef0f3"}"/>'
            )
            parts.append(f'<text x="{xt:.1f}" y="{height - 5}" font-size="9.5" text-anchor="middle" fill="#5b6570">{t:g}</text>')
    for i, lab in enumerate(labels):
        y0 = top + i * row_h
        n_support = support.get(lab)
        faded = n_support == 0
        if i % 2 == 0:
            parts.append(f'<rect x="0" y="{y0 - 3}" width="{width}" height="{row_h}" fill="#f7f8fa"/>')
        suffix = f" ({n_support})" if n_support is not None else ""
        parts.append(
            f'<text x="{label_w - 10}" y="{y0 + row_h / 2}" font-size="11.5" text-anchor="end" dominant-baseline="middle" fill="{"#9aa3ad" if faded else "#1d2329"}">{escape(lab)}{escape(suffix)}</text>'
        )
        for k, metric in enumerate(metrics):
            x0 = label_w + k * (panel_w + panel_gap)
            for r, (name, color, per_label) in enumerate(series):
                v = _num((per_label.get(lab) or {}).get(metric))
                y = y0 + r * (bar + gap)
                if v is None:
                    continue
                w = max(v * panel_w, 1.0 if v == 0 else 0)
                parts.append(
                    f'<rect x="{x0}" y="{y}" width="{w:.1f}" height="{bar}" fill="{color}" opacity="{0.35 if faded else 1}">{_title(f"{name} · {lab} · {metric} {v:.3f}")}</rect>'
                )
    return _svg(width, height, "".join(parts), title)


def _grouped_columns(
    groups: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float | None], Sequence[tuple[float, float] | None]]],
    title: str,
) -> str:
    """Vertical grouped bars with interval whiskers (one group per setting, one bar per run)."""
    n = max(1, len(series))
    bar_w = max(10, min(34, 150 // n))
    group_w = n * (bar_w + 4) + 36
    left, top, plot_h = 40, 12, 200
    width = left + len(groups) * group_w + 10
    height = top + plot_h + 40
    y = lambda v: top + (1 - v) * plot_h  # noqa: E731
    parts = []
    for t in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        parts.append(
            f'<line x1="{left}" y1="{y(t):.1f}" x2="{width - 10}" y2="{y(t):.1f}" stroke="{"#c9cfd6" if t == 0 else "#eef0f3"}"/>'
        )
        parts.append(f'<text x="{left - 6}" y="{y(t) + 3.5:.1f}" font-size="10" text-anchor="end" fill="#5b6570">{t:.1f}</text>')
    for g, group in enumerate(groups):
        gx = left + g * group_w + 18
        for r, (name, color, values, cis) in enumerate(series):
            v = values[g]
            x = gx + r * (bar_w + 4)
            if v is not None:
                parts.append(
                    f'<rect x="{x}" y="{y(v):.1f}" width="{bar_w}" height="{plot_h - (y(v) - top):.1f}" fill="{color}">{_title(f"{name} · {group}: {v:.3f}")}</rect>'
                )
            ci = cis[g]
            if ci is not None:
                cx = x + bar_w / 2
                parts.append(
                    f'<line x1="{cx}" y1="{y(ci[1]):.1f}" x2="{cx}" y2="{y(ci[0]):.1f}" stroke="#1d2329" stroke-width="1.3"/>'
                )
                for end in ci:
                    parts.append(
                        f'<line x1="{cx - 4}" y1="{y(end):.1f}" x2="{cx + 4}" y2="{y(end):.1f}" stroke="#1d2329" stroke-width="1.3"/>'
                    )
        parts.append(
            f'<text x="{gx + (n * (bar_w + 4)) / 2 - 2}" y="{top + plot_h + 18}" font-size="12" text-anchor="middle" fill="#1d2329">{escape(group)}</text>'
        )
    return _svg(width, height, "".join(parts), title)


def _heatmap(matrix: Sequence[Sequence[int]], title: str) -> str:
    """Gold frame (rows) against predicted frame (columns); the absent/absent cell is blank."""
    cell, left, top = 54, 88, 34
    width, height = left + 3 * cell + 6, top + 3 * cell + 6
    parts = [f'<text x="{left + 1.5 * cell}" y="11" font-size="10.5" text-anchor="middle" fill="#5b6570">predicted</text>']
    for j, name in enumerate(_FRAMES):
        parts.append(
            f'<text x="{left + (j + 0.5) * cell}" y="{top - 7}" font-size="10.5" text-anchor="middle" fill="#1d2329">{name}</text>'
        )
    for i, name in enumerate(_FRAMES):
        row_total = sum(matrix[i]) or 1
        parts.append(
            f'<text x="{left - 6}" y="{top + (i + 0.5) * cell + 4}" font-size="10.5" text-anchor="end" fill="#1d2329">gold {name}</text>'
        )
        for j in range(3):
            x, yy = left + j * cell, top + i * cell
            if i == 2 and j == 2:
                parts.append(f'<rect x="{x}" y="{yy}" width="{cell - 2}" height="{cell - 2}" fill="#fafbfc" stroke="#eef0f3"/>')
                continue
            n = matrix[i][j]
            share = n / row_total
            diagonal = i == j
            fill = (
                f"rgba(0,114,178,{0.12 + 0.75 * share:.3f})"
                if diagonal
                else f"rgba(213,94,0,{0.08 + 0.85 * share:.3f})"
                if n
                else "#f5f6f8"
            )
            ink = "#fff" if share > 0.55 else "#1d2329"
            parts.append(
                f'<rect x="{x}" y="{yy}" width="{cell - 2}" height="{cell - 2}" rx="3" fill="{fill}">{_title(f"gold {_FRAMES[i]}, predicted {_FRAMES[j]}: {n}")}</rect>'
            )
            parts.append(
                f'<text x="{x + cell / 2 - 1}" y="{yy + cell / 2 + 4}" font-size="13" text-anchor="middle" fill="{ink}">{n}</text>'
            )
    return _svg(width, height, "".join(parts), title)


# -- sections -------------------------------------------------------------------------------


def _post_sections(runs: Sequence[RunReport], gold: Dataset | None) -> dict[str, Any]:
    scored = [r for r in runs if r.scores]
    ranked = sorted(scored, key=lambda r: -(_num(r.scores["all_samples"].get("micro_f1")) or -1.0))  # type: ignore[index]
    values: list[float | None] = []
    for r in ranked:
        m = r.scores["all_samples"]  # type: ignore[index]
        values += [_num(m.get("micro_f1")), *(_ci(m, "micro_f1") or ())]
        values += [_num(r.scores["valid_only"].get("micro_f1"))]  # type: ignore[index]
    domain = _domain(values)
    leaderboard = []
    for rank, r in enumerate(ranked, start=1):
        a, v = r.scores["all_samples"], r.scores["valid_only"]  # type: ignore[index]
        leaderboard.append(
            {
                "rank": rank,
                "run": r,
                "all": a,
                "valid": v,
                "n": r.scores.get("n"),  # type: ignore[union-attr]
                "n_valid": r.scores.get("n_valid"),  # type: ignore[union-attr]
                "forest": _forest_row(_num(a.get("micro_f1")), _ci(a, "micro_f1"), domain, r.color, r.name),
                "ci": _ci_text(a, "micro_f1"),
                "fmt": _fmt,
            }
        )
    status_rows = []
    for r in ranked:
        a, v = r.scores["all_samples"], r.scores["valid_only"]  # type: ignore[index]
        gap = {k: (_num(v.get(k)), _num(a.get(k))) for k in ("micro_f1", "macro_f1", "exact_match", "jaccard")}
        status_rows.append(
            {
                "run": r,
                "bar": _stacked(r.status_counts, _STATUS_COLORS, f"status counts of {r.name}"),
                "counts": r.status_counts,
                "gap": gap,
                "dumbbell": _dumbbell(_num(v.get("micro_f1")), _num(a.get("micro_f1")), domain, r.color, r.name),
            }
        )
    labels = [x.value for x in POST_LABELS]
    support = {}
    if ranked:
        support = {lab: int((ranked[0].scores["all_samples"]["per_label"].get(lab) or {}).get("support", 0)) for lab in labels}  # type: ignore[index]
    per_label = (
        _bar_panels(
            labels,
            [(r.name, r.color, r.scores["all_samples"]["per_label"]) for r in ranked],
            ("precision", "recall", "f1"),
            support,
            "per-label scores",
        )  # type: ignore[index]
        if ranked
        else ""
    )
    confusions = []
    if gold is not None and gold.kind == "posts":
        for r in ranked or [r for r in runs]:
            c = frame_confusions(gold.posts, r.predictions)
            swaps = [
                {"type": t, "ongoing_as_past": m[0][1], "past_as_ongoing": m[1][0], "right_frame": m[0][0] + m[1][1]}
                for t, m in c["by_type"].items()
                if m[0][1] or m[1][0]
            ]
            confusions.append(
                {
                    "run": r,
                    "heatmap": _heatmap(c["total"], f"time-frame confusions of {r.name}"),
                    "swaps": swaps,
                    "total": c["total"],
                    "n_posts": c["n_posts"],
                }
            )
    audits = []
    gold_posts = gold.posts if gold is not None and gold.kind == "posts" else None  # type: ignore[union-attr]
    for r in [*ranked, *(r for r in runs if r not in ranked)]:
        try:
            audits.append({"run": r, **audit_predictions(r.predictions, gold_posts)})
        except DataError as exc:  # ids that do not match the gold: audit the rules alone
            r.notes.append(f"clinical-rule audit without gold error classes ({exc.issues[0].reason})")
            audits.append({"run": r, **audit_predictions(r.predictions)})
    return {
        "leaderboard": leaderboard,
        "axis": _forest_axis(domain),
        "audits": audits,
        "audit_violations": [(k, DESCRIPTIONS[k]) for k in (*RULE_VIOLATIONS, "any")],
        "audit_errors": [(k, DESCRIPTIONS[k]) for k in ERROR_CLASSES],
        "status_rows": status_rows,
        "per_label": per_label,
        "per_label_rows": [
            (lab, support.get(lab), [(r, r.scores["all_samples"]["per_label"].get(lab) or {}) for r in ranked]) for lab in labels
        ],  # type: ignore[index]
        "confusions": confusions,
        "unscored": [r for r in runs if not r.scores],
    }


def _dumbbell(
    valid: float | None, all_: float | None, domain: tuple[float, float], color: str, label: str, width: int = 220
) -> str:
    lo, hi = domain
    x = lambda v: _PAD + (min(max(v, lo), hi) - lo) / (hi - lo) * (width - 2 * _PAD)  # noqa: E731
    parts = [f'<line x1="{x(t):.1f}" y1="0" x2="{x(t):.1f}" y2="22" stroke="#eef0f3"/>' for t in _ticks(lo, hi)]
    if valid is not None and all_ is not None:
        parts.append(f'<line x1="{x(all_):.1f}" y1="11" x2="{x(valid):.1f}" y2="11" stroke="#9aa3ad" stroke-width="2"/>')
    if valid is not None:
        parts.append(
            f'<circle cx="{x(valid):.1f}" cy="11" r="6" fill="#fff" stroke="{color}" stroke-width="2">{_title(f"{label}, valid only: {valid:.3f}")}</circle>'
        )
    if all_ is not None:
        parts.append(
            f'<circle cx="{x(all_):.1f}" cy="11" r="3.6" fill="{color}">{_title(f"{label}, all samples: {all_:.3f}")}</circle>'
        )
    return _svg(width, 22, "".join(parts), f"valid only against all samples, {label}")


def _dialogue_sections(runs: Sequence[RunReport]) -> dict[str, Any]:
    scored = [r for r in runs if r.scores]
    ranked = sorted(scored, key=lambda r: -(_num((r.scores.get("turn_level") or {}).get("micro_f1")) or -1.0))  # type: ignore[union-attr]
    settings = list(_SETTING_NAMES)
    values: list[float | None] = []
    for r in ranked:
        m = r.scores["turn_level"]  # type: ignore[index]
        values += [_num(m.get("micro_f1")), *(_ci(m, "micro_f1") or ())]
    domain = _domain(values)
    leaderboard = [
        {
            "rank": i,
            "run": r,
            "m": {k: r.scores.get(k) or {} for k in settings},  # type: ignore[union-attr]
            "n_dialogues": r.scores.get("n_dialogues"),  # type: ignore[union-attr]
            "n_user_turns": r.scores.get("n_user_turns"),  # type: ignore[union-attr]
            "forest": _forest_row(
                _num(r.scores["turn_level"].get("micro_f1")), _ci(r.scores["turn_level"], "micro_f1"), domain, r.color, r.name
            ),  # type: ignore[index]
            "ci": _ci_text(r.scores["turn_level"], "micro_f1"),  # type: ignore[index]
        }
        for i, r in enumerate(ranked, start=1)
    ]
    charts = {}
    for metric in ("micro_f1", "macro_f1"):
        series = [
            (
                r.name,
                r.color,
                [_num((r.scores.get(k) or {}).get(metric)) for k in settings],  # type: ignore[union-attr]
                [_ci(r.scores.get(k), metric) for k in settings],  # type: ignore[union-attr]
            )
            for r in ranked
        ]
        charts[metric] = _grouped_columns([_SETTING_NAMES[k] for k in settings], series, f"{metric} by setting")
    labels = [x.value for x in DIALOGUE_LABELS]
    support = {}
    if ranked:
        support = {
            lab: int(((ranked[0].scores["turn_level"].get("per_label") or {}).get(lab) or {}).get("support", 0)) for lab in labels
        }  # type: ignore[index]
    per_label = (
        _bar_panels(
            labels,
            [(r.name, r.color, r.scores["turn_level"].get("per_label") or {}) for r in ranked],
            ("precision", "recall", "f1"),
            support,
            "turn-level per-label scores",
        )  # type: ignore[index]
        if ranked
        else ""
    )
    timing: list[dict[str, Any]] = []
    rate_keys: list[str] = []
    for r in ranked:
        t = r.scores.get("timing") or {}  # type: ignore[union-attr]
        outcome = {k: int(t.get(k) or 0) for k in _TIMING_COLORS}
        by_kind = {
            kind: _stacked(
                {k: int(v.get(k) or 0) for k in _TIMING_COLORS},
                _TIMING_COLORS,
                f"{kind} timing of {r.name}",
                width=200,
                height=12,
            )
            for kind, v in (t.get("by_kind") or {}).items()
            if isinstance(v, dict)
        }
        rates = {
            k: (v, _ci_text(t, k))
            for k, v in t.items()
            if k not in _TIMING_COLORS and k not in ("by_kind", "ci", "n_gold", "tolerance") and _num(v) is not None
        }
        rate_keys += [k for k in rates if k not in rate_keys]
        timing.append(
            {
                "run": r,
                "t": t,
                "bar": _stacked(outcome, _TIMING_COLORS, f"timing of {r.name}"),
                "outcome": outcome,
                "by_kind": by_kind,
                "rates": rates,
            }
        )
    return {
        "leaderboard": leaderboard,
        "axis": _forest_axis(domain),
        "charts": charts,
        "per_label": per_label,
        "timing": timing,
        "rate_keys": rate_keys,
        "status_rows": [
            {"run": r, "bar": _stacked(r.status_counts, _STATUS_COLORS, f"status counts of {r.name}"), "counts": r.status_counts}
            for r in runs
        ],
        "unscored": [r for r in runs if not r.scores],
    }


def _findings(posts: dict[str, Any] | None, dialogues: dict[str, Any] | None) -> list[str]:
    out: list[str] = []
    for section, metric_name, key in ((posts, "micro F1 over all samples", "all"), (dialogues, "turn-level micro F1", None)):
        if not section or not section["leaderboard"]:
            continue
        board = section["leaderboard"]
        top = board[0]
        m = top["all"] if key else top["m"]["turn_level"]
        best = _fmt(m.get("micro_f1"))
        tied = [row["run"].name for row in board if _fmt((row["all"] if key else row["m"]["turn_level"]).get("micro_f1")) == best]
        if len(tied) > 1:
            out.append(f"Best {metric_name}: {', '.join(tied)} tie at {best}.")
            continue
        out.append(
            f"Best {metric_name}: {top['run'].name} at {best}"
            + (f" (95% CI {top['ci'][1:-1].replace(', ', ' to ')})." if top["ci"] else ".")
        )
        if len(board) > 1:
            second = board[1]
            m2 = second["all"] if key else second["m"]["turn_level"]
            c1, c2 = _ci(m, "micro_f1"), _ci(m2, "micro_f1")
            if c1 and c2:
                overlap = c1[0] <= c2[1] and c2[0] <= c1[1]
                verdict = "overlap: the ranking of these two may be noise" if overlap else "do not overlap"
                out.append(f"The intervals of {top['run'].name} and {second['run'].name} {verdict}.")
    if posts:
        for row in posts["status_rows"]:
            bad = sum(n for s, n in row["counts"].items() if s != "ok")
            valid, all_ = row["gap"]["micro_f1"]
            if bad and valid is not None and all_ is not None:
                out.append(
                    f"{row['run'].name}: {bad} output(s) not ok; micro F1 {valid:.3f} on valid samples only, {all_:.3f} counting them wrong."
                )
        for c in posts["confusions"]:
            total = c["total"]
            swaps = total[0][1] + total[1][0]
            if swaps:
                out.append(
                    f"{c['run'].name}: {swaps} crisis mention(s) with the right type but the wrong time frame ({total[0][1]} ongoing taken as past, {total[1][0]} past taken as ongoing)."
                )
    return out


# -- the page ---------------------------------------------------------------------------------


def render_report(
    runs: Sequence[RunReport], gold: Dataset | None = None, *, title: str = "cradle report", notes: Sequence[str] = ()
) -> str:
    """The HTML of the report for loaded runs.

    Parameters
    ----------
    runs : sequence of RunReport
        Runs of posts, of dialogues, or both (each kind gets its own sections).
    gold : Dataset, optional
        Gold posts for the time-frame confusions.
    title : str
    notes : sequence of str
        Lines shown under the title (e.g. why a section is missing).

    Returns
    -------
    str
    """
    from jinja2 import Environment, FileSystemLoader, select_autoescape
    from markupsafe import Markup

    post_runs = [r for r in runs if r.kind == "posts"]
    dialogue_runs = [r for r in runs if r.kind == "dialogues"]
    for group in (post_runs, dialogue_runs):
        for i, run in enumerate(group):
            run.color = PALETTE[i % len(PALETTE)]
    posts = _post_sections(post_runs, gold) if post_runs else None
    dialogues = _dialogue_sections(dialogue_runs) if dialogue_runs else None
    env = Environment(loader=FileSystemLoader(str(_TEMPLATE_DIR)), autoescape=select_autoescape(["html"]))
    env.filters["svg"] = Markup
    env.filters["num"] = _fmt
    env.filters["pct"] = lambda v: "–" if _num(v) is None else f"{100 * float(v):.1f}%"
    return env.get_template("report.html").render(
        title=title,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
        runs=runs,
        posts=posts,
        dialogues=dialogues,
        findings=_findings(posts, dialogues),
        notes=list(notes),
        gold_name=getattr(gold, "name", None),
        status_colors=_STATUS_COLORS,
        timing_colors=_TIMING_COLORS,
        setting_names=_SETTING_NAMES,
        ci_text=_ci_text,
    )


def write_report(
    run_dirs: Sequence[str | Path],
    out_path: str | Path,
    gold: str | Path | Dataset | None = None,
    *,
    title: str | None = None,
    data_dir: str | Path | None = None,
) -> Path:
    """Write a self-contained HTML report comparing runs.

    Parameters
    ----------
    run_dirs : sequence of path
        Run directories (``predictions.jsonl``; ``scores.json`` and ``manifest.json`` when
        present). Post and dialogue runs may be mixed.
    out_path : path
        The HTML file to write (its folder is created).
    gold : path, dataset name or Dataset, optional
        Gold data: scores runs that lack ``scores.json`` and adds the ongoing-against-past
        confusions. By default the dataset named in the manifests is used when it can be read
        offline.
    title : str, optional
    data_dir : path, optional
        Local folder laid out like the hub repositories (for dataset names).

    Returns
    -------
    Path
        ``out_path``.

    Raises
    ------
    DataError
        For a missing or malformed run directory, or gold data that cannot be read.
    ValueError
        When no run is given.
    """
    if not run_dirs:
        raise ValueError("no run directory given")
    runs = [load_run(p) for p in run_dirs]
    names = Counter(r.name for r in runs)
    seen: Counter[str] = Counter()
    for r in runs:
        if names[r.name] > 1:
            seen[r.name] += 1
            r.name = f"{r.name}#{seen[r.name]}"
    gold_data, notes = _load_gold(gold, runs, data_dir)
    _score_missing(runs, gold_data)
    html = render_report(runs, gold_data.get("posts"), title=title or "cradle report", notes=notes)
    out = Path(out_path).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
