"""The benchmark suite (``make bench``): figures next to the raw PostgreSQL limit."""
