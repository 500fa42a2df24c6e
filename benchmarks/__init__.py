"""Benchmark sections, kept beside the library (not installed with it; `genrec bench` finds this folder in
the source checkout). Each module `benchmarks/<section>.py` defines `bench(quick: bool) -> str | None` (markdown:
tables naming dataset, protocol, hardware, the published anchor beside our number, and the command; None when
the section needs hardware this machine lacks) and `figures(md: str) -> dict` (the same figures as flat
`"path/name": number` pairs, read back from that markdown). The runner `benchmarks/run.py` runs the chosen
sections, stores each as results/<section>.md + results/<section>.json and assembles BENCHMARKS.md."""
