"""Benchmarks: measured beside baselines on a seeded store (python bench/run.py)."""

# The benchmark's web server verifies Shopify deliveries with this secret; it signs nothing real.
SHOPIFY_SECRET = "shpss_bench_only_secret"  # noqa: S105
