"""Figures and markdown for the rater's A/B report (`build_report`: the body of its report.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from rec_core.rater.image_stats import IMAGE_STAT_NAMES
from rec_core.rater.plot_scoring import SCORE_NAMES


def rmse_comparison_plot(
    per_fold: dict[str, pd.DataFrame], path: Path, baseline: dict[str, float] | None = None, anchor: float | None = None
) -> Path:
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


def feature_importance_plot(
    gain: pd.Series, shap: pd.Series, groups: dict[str, list[str]], path: Path, top: int = 20
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    group_of = {c: g for g, cols in groups.items() for c in cols}
    palette = {"structured": "#4C72B0", "poster": "#55A868", "plot": "#C44E52", "embedding": "#8172B2"}
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.28 * top + 1.5))
    for ax, series, title in (
        (axes[0], gain, "gain share (mean over folds)"),
        (axes[1], shap, "mean |SHAP| (pred_contribs)"),
    ):
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


def build_report(
    cfg,
    counts,
    results,
    comparisons,
    baseline,
    speed,
    gain,
    shap,
    group_share,
    examples,
    movies,
    anchor,
    allowed_post_release,
) -> str:
    lines = ["## Setup", ""]
    lines.append(
        f"- Target: TMDB 5000 `vote_average` of the {counts['movies']} movies with `vote_count >= {cfg.data.min_votes}`"
        + (f" (seeded subsample of {cfg.data.max_movies})" if cfg.data.max_movies else "")
        + "."
    )
    for pol in dict.fromkeys([cfg.data.policy, *cfg.data.compare_policies]):
        allowed = allowed_post_release(pol)
        lines.append(
            f"- Leakage policy `{pol.value}`: post-release signals used = {', '.join(allowed) or 'none'}"
            + (" (main A/B)" if pol == cfg.data.policy else " (comparison with the public anchor)")
        )
    if counts["movies"] >= cfg.cv.ray_min_rows:
        where = (
            f"XGBoost on Ray Train with {cfg.cv.num_workers} workers (`XGBoostTrainer`, the fold models trained one "
            "after another in one worker group)"
        )
    else:
        where = (
            f"XGBoost in the driver process (plain `xgboost.train`, {cfg.cv.num_workers * cfg.xgb.nthread} threads): "
            f"the table's {counts['movies']} rows are below `cv.ray_min_rows` = {cfg.cv.ray_min_rows}"
        )
    lines.append(
        f"- Folds: {cfg.cv.n_folds}-fold × {len(cfg.cv.seeds)} seeds, identical for A and B; {where}, early stopping "
        f"on an inner {cfg.xgb.inner_valid_fraction:.0%} split."
    )
    desc = {
        "poster": f"poster = **{cfg.posters.group_label()}**",
        "plot": f"LLM plot scores by `{cfg.plots.model}` ({cfg.plots.method}"
        + (f", first {cfg.plots.max_overviews} overviews; the rest missing" if cfg.plots.max_overviews else "")
        + ")",
        "embedding": (
            f"overview embeddings `{cfg.features.embed_encoder}` reduced to {cfg.features.embed_components} "
            "PCA components"
        ),
    }
    groups = cfg.features.genai_groups
    lines.append(
        f"- GenAI groups in B: {'; '.join(desc[g] for g in groups) or 'none'}."
        + ("" if "plot" in groups else " LLM plot scores were NOT part of this run.")
    )
    lines += ["", "## Results (mean ± sd over folds)", ""]
    rows = [
        {
            "setting": "predict the training mean",
            "RMSE": f"{baseline['rmse'].mean():.4f} ± {baseline['rmse'].std(ddof=1):.4f}",
            "MAE": f"{baseline['mae'].mean():.4f}",
            "R²": f"{baseline['r2'].mean():.4f}",
        }
    ]
    for k, r in results.items():
        rows.append(
            {
                "setting": k,
                "RMSE": f"{r['rmse']:.4f} ± {r['rmse_sd']:.4f}",
                "MAE": f"{r['mae']:.4f} ± {r['mae_sd']:.4f}",
                "R²": f"{r['r2']:.4f} ± {r['r2_sd']:.4f}",
            }
        )
    lines.append(md_table(rows, ["setting", "RMSE", "MAE", "R²"]))
    lines.append(
        f"\nPublic anchor: a tuned XGBoost on TMDB metadata with vote_count and popularity reported RMSE ≈ {anchor} "
        "(compare with the `public_anchor` rows, not with the pre-release ones)."
    )
    lines += ["", "## A vs B", ""]
    for pol, comp in comparisons.items():
        c = comp["rmse"]
        lines.append(
            f"- **{pol}**: {c.verdict('RMSE')} Bootstrap 95 % CI over the {c.n_pairs} paired folds "
            f"{c.boot_low:+.4f} … {c.boot_high:+.4f}; naive paired t-test p = {c.naive_p_value:.3g} "
            "(over-confident: folds share training rows; the corrected test is the one we judge by)."
        )
        lines.append(
            f"  - ΔMAE {comp['mae'].delta:+.4f} (CI {comp['mae'].ci_low:+.4f} … {comp['mae'].ci_high:+.4f}), "
            f"ΔR² {comp['r2'].delta:+.4f} (CI {comp['r2'].ci_low:+.4f} … {comp['r2'].ci_high:+.4f})"
        )
    lines.append("\n![RMSE A vs B](rmse_comparison.png)\n")
    lines += ["## Feature importance (main policy)", ""]
    lines.append("Gain share per group: " + ", ".join(f"{g} {v:.1%}" for g, v in group_share.items()))
    top = [
        {"feature": f, "gain share": float(gain[f]), "mean |SHAP|": float(shap.get(f, np.nan))} for f in gain.index[:12]
    ]
    lines.append(
        "\n" + md_table(top, ["feature", "gain share", "mean |SHAP|"], {"gain share": ".3f", "mean |SHAP|": ".4f"})
    )
    lines.append("\n![feature importance](feature_importance.png)\n")
    lines += ["## Stage counts", ""]
    lines.append(
        md_table(
            [{"count": k, "value": round(v, 4) if isinstance(v, float) else v} for k, v in counts.items()],
            ["count", "value"],
        )
    )
    if speed:
        lines += ["", "## XGBoost on Ray vs single process (same tasks, same run)", ""]
        lines.append(
            f"{speed['ray_workers']} Ray Train workers: {speed['ray_wall_s']:.1f} s; single-process `xgboost.train` "
            f"({speed['single_threads']} threads): {speed['single_wall_s']:.1f} s → ratio "
            f"{speed['time_ratio_ray_over_single']:.2f}. Quality: RMSE {speed['ray_rmse']:.4f} (Ray) vs "
            f"{speed['single_rmse']:.4f} (single), |Δ| = {speed['rmse_abs_diff']:.4f}; correlation of held-out "
            f"predictions {speed['pred_corr']:.4f}."
        )
    lines += ["", "## Case examples", ""]
    lines += _poster_examples(examples.get("posters"), cfg, movies)
    lines += _plot_examples(examples.get("plots"), movies)
    return "\n".join(lines)


def _poster_examples(posters: pd.DataFrame | None, cfg, movies: pd.DataFrame) -> list[str]:
    if posters is None or not len(posters):
        return ["No posters were processed."]
    posters = posters.merge(movies[["item_id", "title"]], on="item_id", how="left")
    out = [f"Poster features: **{cfg.posters.group_label()}**.", ""]
    ok = posters[posters["status"] == "ok"].head(2)
    for _, r in ok.iterrows():
        stats = ", ".join(f"{k[4:]} {r[k]:.3f}" for k in IMAGE_STAT_NAMES[:6])
        out.append(f"- **{r['title']}** (poster `{r['image_path'].split('/')[-1]}`): {stats}")
        if isinstance(r.get("raw_reply"), str):
            out.append(f"  - VLM reply: `{r['raw_reply'][:200]!s}` → keywords {json.loads(r['keywords'])}")
    bad = posters[posters["status"] != "ok"].head(2)
    for _, r in bad.iterrows():
        out.append(f"- unreadable poster, counted and left missing: {r['error']}")
    return out + [""]


def _plot_examples(scores: pd.DataFrame | None, movies: pd.DataFrame) -> list[str]:
    if scores is None or not len(scores):
        return ["No plots were scored."]
    scores = scores.merge(movies[["item_id", "title", "overview"]], on="item_id", how="left")
    out = []
    ok = scores[scores["failure"].isna()].head(3)
    for _, r in ok.iterrows():
        parts = [
            f"{n} = {r[n]:.2f}" + (f" (answer distribution {r[f'{n}_top']})" if f"{n}_top" in r else "")
            for n in SCORE_NAMES
        ]
        out.append(f"- **{r['title']}** — “{str(r['overview'])[:160]}…”: " + "; ".join(parts))
    bad = scores[scores["failure"].notna()].head(3)
    for _, r in bad.iterrows():
        out.append(f"- failure, **{r['title']}**: {r['failure']}; raw_response: `{str(r.get('raw_response'))[:200]}`")
    return out
