"""BENCHMARKS.md section: the GenAI rater on TMDB 5000.

Runs the rater job (cpu preset; smoke when quick) into a fixed run dir under runs/ so a re-run resumes
from its cached stages, then a small JSON-generation run of the same LLM for its parse-failure rate.
"""

from __future__ import annotations

import time

from rec_core.paths import REPO_ROOT


def _json_mode_failure_rate(model: str, n: int, out_dir) -> dict:
    """Score n overviews by greedy JSON generation (schema + one retry) and count the failures."""
    from data_pipelines.plot_scores import PlotScoreConfig, plot_feature_table, run_plot_stage
    from rec_core.paths import default_data_dir, default_mirror
    from rec_core.rater.tmdb import load_tmdb_movies

    movies = load_tmdb_movies(default_data_dir(), default_mirror()).sort_values("vote_count", ascending=False).head(n)
    t0 = time.perf_counter()
    scores = run_plot_stage(
        movies[["item_id", "overview"]], PlotScoreConfig(model=model, method="json", batch_size=8), out_dir
    )
    _, counts = plot_feature_table(scores)
    counts["wall_s"] = time.perf_counter() - t0
    counts["example_raw"] = str(scores.loc[scores["failure"].notna(), "raw_response"].head(1).tolist())[:160]
    return counts


def bench(quick: bool) -> str:
    from jobs.common.job import run_job
    from jobs.rater import JOB, PUBLIC_ANCHOR_RMSE

    preset = "smoke" if quick else "cpu"
    out = REPO_ROOT / "runs" / f"bench-rater-{preset}"
    cfg = JOB.resolve(preset)
    m = run_job(JOB, preset=preset, out_dir=out).metrics
    main = cfg.data.policy.value
    # The same CV without the target-encoded list columns, reading the posters / plots / embeddings just cached
    no_te = run_job(
        JOB,
        preset=preset,
        overrides=[
            "features.target_encode=[]",
            f"features.stage_dir={cfg.features.stage_dir or out / 'stages'}",
            "data.compare_policies=[]",
            "cv.single_process_check=false",
        ],
        out_dir=out.parent / f"{out.name}-no-target-encoding",
    ).metrics
    import os

    lines = [
        "## GenAI rater (TMDB 5000 vote_average, XGBoost on Ray)",
        "",
        # speed rows below are only as clean as the machine was quiet; stages cached by an earlier run keep the
        # throughput that run measured
        f"_1-minute load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores._",
        "",
        f"Dataset: TMDB 5000, movies with vote_count >= {cfg.data.min_votes} ({m['counts/movies']:.0f} movies). "
        f"Protocol: {cfg.cv.n_folds}-fold CV × {len(cfg.cv.seeds)} seeds, the same folds for A (structured: TMDB "
        f"metadata + the mean training rating of each movie's {', '.join(cfg.features.target_encode) or 'nothing'}, "
        "target-encoded inside each fold) and B "
        f"(structured + GenAI: {cfg.posters.group_label()}, LLM plot scores by `{cfg.plots.model}` on "
        f"{m.get('counts/plot_scored', 0):.0f} overviews, MiniLM overview PCA). ΔRMSE CI: Nadeau-Bengio corrected "
        f"resampled t. Command: `genrec run rater --preset {preset}`.",
        "",
        "| leakage policy | A RMSE | B RMSE | ΔRMSE (B−A) [95 % CI] | verdict | public anchor |",
        "|---|---|---|---|---|---|",
    ]
    for pol in [main, *[p.value for p in cfg.data.compare_policies]]:
        if f"cv/{pol}/A/rmse" not in m:
            continue
        d = f"delta/{pol}/rmse"
        verdict = "within noise" if m.get(f"{d}/within_noise") else ("B better" if m[f"{d}/delta"] < 0 else "B worse")
        anchor = f"≈ {PUBLIC_ANCHOR_RMSE} (tuned XGBoost, vote_count + popularity)" if pol == "public_anchor" else "—"
        lines.append(
            f"| `{pol}` | {m[f'cv/{pol}/A/rmse']:.4f} ± {m[f'cv/{pol}/A/rmse_sd']:.4f} | "
            f"{m[f'cv/{pol}/B/rmse']:.4f} ± {m[f'cv/{pol}/B/rmse_sd']:.4f} | {m[f'{d}/delta']:+.4f} "
            f"[{m[f'{d}/ci_low']:+.4f}, {m[f'{d}/ci_high']:+.4f}] | {verdict} | {anchor} |"
        )
    lines.append(
        f"\nPredicting the training mean: RMSE {m['baseline_mean/rmse']:.4f}. The anchor's exact features, filter and "
        "split are not published with it; compare the `public_anchor` row only, and only roughly.\n"
    )
    x = cfg.xgb
    lines += [
        f"Target encoding (`features.target_encode`, scikit-learn `TargetEncoder`, smooth "
        f"{cfg.features.target_encode_smooth:g}; each fold's encoder sees only its training rows, which it "
        "cross-fits) against the same run without it (`--set features.target_encode=[]`), `pre_release`, XGBoost "
        f"max_depth {x.max_depth}, eta {x.eta:g}, up to {x.num_boost_round} rounds:",
        "",
        "| structured features | A RMSE | B RMSE | ΔRMSE (B−A) [95 % CI] |",
        "|---|---|---|---|",
    ]
    for label, r in (("with target encoding", m), ("without target encoding", no_te)):
        d = f"delta/{main}/rmse"
        lines.append(
            f"| {label} | {r[f'cv/{main}/A/rmse']:.4f} ± {r[f'cv/{main}/A/rmse_sd']:.4f} | "
            f"{r[f'cv/{main}/B/rmse']:.4f} ± {r[f'cv/{main}/B/rmse_sd']:.4f} | {r[f'{d}/delta']:+.4f} "
            f"[{r[f'{d}/ci_low']:+.4f}, {r[f'{d}/ci_high']:+.4f}] |"
        )
    lines.append("")
    if "speed/ray_wall_s" in m:
        lines.append(
            f"**XGBoost on Ray vs single process** (the {m['speed/tasks']:.0f} fold models of one repetition, same "
            f"data, same run): `XGBoostTrainer` with {m['speed/ray_workers']:.0f} workers {m['speed/ray_wall_s']:.1f} "
            f"s vs `xgboost.train` with {m['speed/single_threads']:.0f} threads {m['speed/single_wall_s']:.1f} s → "
            f"**{m['speed/time_ratio_ray_over_single']:.1f}×** the single-process time (worker-group start + "
            f"collective sync dominate at this size). Quality: RMSE {m['speed/ray_rmse']:.4f} vs "
            f"{m['speed/single_rmse']:.4f} (|Δ| {m['speed/rmse_abs_diff']:.4f}), held-out prediction correlation "
            f"{m['speed/pred_corr']:.3f}: distributed `hist` uses per-worker row sampling and a merged quantile "
            "sketch, so models are close but not bit-identical.\n"
        )
    if "counts/plot_overviews_per_s_per_actor" in m:
        lines.append(
            f"**LLM plot scoring** (`{cfg.plots.model}`, token-probability expected value, 2 questions per overview): "
            f"{m['counts/plot_overviews_per_s_per_actor']:.3f} overviews/s per actor (model time, load excluded; "
            f"{cfg.plots.num_actors} actor × {cfg.plots.cpus_per_actor:g} CPU); failure rate "
            f"{m['counts/plot_failure_rate']:.1%} (answer mass < {cfg.plots.min_mass}); mean answer mass "
            f"{m.get('counts/plot_novelty_mean_mass', float('nan')):.3f}."
        )
    n_json = 4 if quick else 16
    j = _json_mode_failure_rate(cfg.plots.model, n_json, out / "json_mode_plot_scores")
    lines.append(
        f"JSON generation instead (same model, schema validation + one retry, {n_json} overviews): parse-failure rate "
        f"**{j['plot_failure_rate']:.0%}** ({j['plot_failures']}/{j['plot_scored']}); e.g. raw replies "
        f"{j['example_raw']!s}. This is why the token-probability method is the default for small models."
    )
    return "\n".join(lines)


def figures(md: str) -> dict:
    """cv/<policy>/<a|b>/rmse[_sd], delta/<policy>/rmse/<delta|ci_low|ci_high>, baseline_mean/rmse, speed/* (the
    job's own Ray-vs-single check of one repetition; the `xgboost/*` overhead rows are the xgb_overhead section's)
    and plot_scores/* (LLM scoring), from `bench`'s markdown."""
    import re

    from benchmarks.results_io import aliases, md_tables, num, nums, put

    def ab_row(r: dict, rmse: str, delta_keys: tuple[str, str, str]) -> None:
        """A, B (mean ± sd) and ΔRMSE [CI] cells of a row: <rmse>/<a|b>/rmse[_sd], and the three delta keys."""
        for side in ("A", "B"):
            mean, sd = nums(r[f"{side} RMSE"])
            put(out, f"{rmse}/{side.lower()}/rmse", mean)
            put(out, f"{rmse}/{side.lower()}/rmse_sd", sd)
        for key, v in zip(delta_keys, nums(r["ΔRMSE (B−A) [95 % CI]"])):
            put(out, key, v)

    out: dict = {}
    tables = md_tables(md)
    for t in tables[1:]:
        for r in t["rows"] if "structured features" in t["rows"][0] else []:
            key = "with_target_encoding" if r["structured features"].startswith("with ") else "no_target_encoding"
            p = f"ablation/{key}/delta_rmse"
            ab_row(r, f"ablation/{key}", (p, f"{p}_ci_low", f"{p}_ci_high"))
    for r in tables[0]["rows"]:
        pol = r["leakage policy"].strip("`")
        ab_row(r, f"cv/{pol}", tuple(f"delta/{pol}/rmse/{k}" for k in ("delta", "ci_low", "ci_high")))
        put(out, f"delta/{pol}/rmse/within_noise", int(r["verdict"] == "within noise"))
    for pattern, names in (
        (r"\((\d+) movies\)", ("counts/movies",)),
        (r"(\d+)-fold CV × (\d+) seeds", ("cv/folds", "cv/seeds")),
        (r"on (\d+) overviews", ("counts/plot_scored",)),
        (r"Predicting the training mean: RMSE ([\d.]+)", ("baseline_mean/rmse",)),
        (
            r"the (\d+) fold models of one repetition.*?with (\d+) workers ([\d.]+) s vs `xgboost.train` with (\d+) "
            r"threads ([\d.]+) s → \*\*([\d.]+)×\*\*",
            (
                "speed/tasks",
                "speed/ray_workers",
                "speed/ray_wall_s",
                "speed/single_threads",
                "speed/single_wall_s",
                "speed/time_ratio_ray_over_single",
            ),
        ),
        (
            r"Quality: RMSE ([\d.]+) vs ([\d.]+) \(\|Δ\| ([\d.]+)\), held-out prediction correlation ([\d.]+)",
            (
                "speed/ray_rmse",
                "speed/single_rmse",
                "speed/rmse_abs_diff",
                "speed/pred_corr",
            ),
        ),
        (r"([\d.]+) overviews/s per actor", ("plot_scores/overviews_per_s_per_actor",)),
        (r"mean answer mass ([\d.]+)", ("plot_scores/mean_answer_mass",)),
        (
            r"\*\*(\d+)%\*\* \((\d+)/(\d+)\)",
            ("plot_scores/json_mode/failure_pct", "plot_scores/json_mode/failures", "plot_scores/json_mode/scored"),
        ),
    ):
        m = re.search(pattern, md, re.S)
        if m:
            for k, v in zip(names, m.groups()):
                put(out, k, num(v))
    m = re.search(r"failure rate ([\d.]+)% \(answer mass", md)
    if m:
        put(out, "plot_scores/failure_rate", round(float(m.group(1)) / 100, 4))
    return aliases(out, {"pre_release/rmse_a": "cv/pre_release/a/rmse", "pre_release/rmse_b": "cv/pre_release/b/rmse"})
