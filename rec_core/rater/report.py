"""Figures and markdown for the rater's A/B report."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def rmse_comparison_plot(per_fold: dict[str, pd.DataFrame], path: Path, baseline: dict[str, float] | None = None,
                         anchor: float | None = None) -> Path:
    """Bars: mean RMSE per (policy, variant) with the std over folds as error bars; dots = folds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(per_fold)
    means = [per_fold[k]["rmse"].mean() for k in labels]
    stds = [per_fold[k]["rmse"].std(ddof=1) if len(per_fold[k]) > 1 else 0.0 for k in labels]
    colors = ["#4C72B0" if k.endswith("A") else "#DD8452" for k in labels]
    fig, ax = plt.subplots(figsize=(1.6 * len(labels) + 2.5, 4))
    x = np.arange(len(labels))
    ax.bar(x, means, yerr=stds, capsize=6, color=colors, alpha=0.85)
    rng = np.random.default_rng(0)
    for i, k in enumerate(labels):
        v = per_fold[k]["rmse"].to_numpy()
        ax.scatter(i + rng.uniform(-0.15, 0.15, len(v)), v, s=10, color="k", zorder=3)
    if baseline:
        for name, val in baseline.items():
            ax.axhline(val, ls=":", color="grey")
            ax.text(len(labels) - 0.5, val, f" {name}", va="bottom", ha="right", fontsize=8, color="grey")
    if anchor is not None:
        ax.axhline(anchor, ls="--", color="green")
        ax.text(-0.4, anchor, " public anchor (vote_count+popularity)", va="bottom", fontsize=8, color="green")
    ax.set_xticks(x, labels, rotation=15)
    ax.set_ylabel("RMSE (vote_average), mean ± sd over folds")
    lo = min(min(m - s for m, s in zip(means, stds)), anchor or np.inf)
    ax.set_ylim(max(0.0, lo - 0.1), max(max(m + s for m, s in zip(means, stds)), *(baseline or {0: 0}).values()) + 0.05)
    ax.set_title("A = structured only, B = structured + GenAI (same folds)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def feature_importance_plot(gain: pd.Series, shap: pd.Series, groups: dict[str, list[str]], path: Path, top: int = 20) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    group_of = {c: g for g, cols in groups.items() for c in cols}
    palette = {"structured": "#4C72B0", "poster": "#55A868", "plot": "#C44E52", "embedding": "#8172B2"}
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.28 * top + 1.5))
    for ax, series, title in ((axes[0], gain, "gain share (mean over folds)"), (axes[1], shap, "mean |SHAP| (pred_contribs)")):
        s = series.head(top)[::-1]
        ax.barh(range(len(s)), s.to_numpy(), color=[palette.get(group_of.get(c, ""), "grey") for c in s.index])
        ax.set_yticks(range(len(s)), s.index, fontsize=8)
        ax.set_title(title)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in palette.values()]
    fig.legend(handles, list(palette), loc="lower center", ncol=4, fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def md_table(rows: list[dict], columns: list[str], fmt: dict[str, str] | None = None) -> str:
    fmt = fmt or {}
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        cells = []
        for c in columns:
            v = r.get(c, "")
            cells.append(format(v, fmt[c]) if c in fmt and isinstance(v, (int, float, np.floating)) else str(v))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)
