"""Stores made up for trying and measuring the product: fixtures, not product code.

* ``demo``: a realistic small store (``manage.py seed_demo``) for a first look and the browser tests.
* ``scale``: a store at scale written with PostgreSQL ``COPY`` (``manage.py seed_scale``) for benchmarks.

Nothing in the product imports from here; the seeds call the product's verbs and the sweep.
"""
