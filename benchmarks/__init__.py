"""`make bench`: benchmarks of photostream on the real local stack, each figure next to a same-run baseline.

Benchmarks are not tests: they measure and report (``bench-report.md``), they do not assert goals. Every run
gets its own Cassandra keyspace, Redis database, app id and consumer groups (as the integration tests do),
and removes them at the end.
"""
