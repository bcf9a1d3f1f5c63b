"""Sinks: the only code that writes Redis (hot, rebuildable) and Cassandra (durable)."""
