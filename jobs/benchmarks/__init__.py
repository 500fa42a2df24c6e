"""Benchmark sections. Each module `jobs/benchmarks/<section>.py` defines `bench(quick: bool) -> str` (markdown:
tables naming dataset, protocol, hardware, the published anchor beside our number, and the command). The bench
job runs the chosen sections, stores each under results/<section>.md and assembles BENCHMARKS.md."""
