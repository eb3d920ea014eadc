"""Benchmarks: `python -m bench` runs every bench_*.py here and writes JSON to bench/results/."""
