"""``python -m bench.data generate --cases 1000000`` / ``python -m bench.data reset``."""

from bench.data.cli import bench

bench(prog_name="python -m bench.data")
