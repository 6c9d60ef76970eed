"""Benchmark data at province and national scale, loaded with PostgreSQL COPY.

``generate`` builds subjects in every commune of a province, reviewer and applicant accounts,
and cases over several years in every state, with the history, stage visits, sign-offs and
assessment items the core operations would have written; ``append_cases`` adds a block of
fresh cases with consecutive ids (the pools the benchmarks consume); ``reset`` empties the data
tables. The ``bench`` command group (``python -m bench.data …``) wraps them.
"""

from bench.data.dataset import (
    BENCH_PASSWORD,
    GenerateResult,
    append_cases,
    generate,
    reset,
)

__all__ = ["BENCH_PASSWORD", "GenerateResult", "append_cases", "generate", "reset"]
