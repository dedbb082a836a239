"""Benchmark helpers for Norse (the benchmark scripts live in the repository folder benchmarks/)."""
