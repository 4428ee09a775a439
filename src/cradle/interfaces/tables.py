"""Rich tables of scores, shared by ``score``, ``evaluate`` and ``demo``."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from cradle.metrics import SCALAR_METRICS

__all__ = ["metrics_table", "per_label_table", "fmt"]


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table cell; ``-`` for missing or NaN."""
    if value is None:
        return "-"
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    if f != f:
        return "-"
    return f"{f:.{digits}f}"


def metrics_table(columns: dict[str, dict[str, Any]], title: str = "Scores") -> Table:
    """One row per scalar metric, one column per named score object (with CIs when present)."""
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    for name in columns:
        table.add_column(name, justify="right")
    for key in SCALAR_METRICS:
        cells = []
        for m in columns.values():
            cell = fmt(m.get(key))
            ci = (m.get("ci") or {}).get(key)
            if ci:
                cell += f" [dim][{fmt(ci[0])}, {fmt(ci[1])}][/]"
            cells.append(cell)
        table.add_row(key, *cells)
    return table


def per_label_table(m: dict[str, Any], title: str = "Per label") -> Table:
    """Precision, recall, F1 and support of every label."""
    table = Table(title=title, title_justify="left")
    for col, justify in (("label", "left"), ("precision", "right"), ("recall", "right"), ("f1", "right"), ("support", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for label, v in m["per_label"].items():
        table.add_row(label, fmt(v["precision"]), fmt(v["recall"]), fmt(v["f1"]), str(v["support"]))
    return table
