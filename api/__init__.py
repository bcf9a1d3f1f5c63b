"""The HTTP API: reads from Redis/Cassandra, writes only validate and publish events."""
