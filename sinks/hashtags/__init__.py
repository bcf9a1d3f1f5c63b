"""Hashtag storage, split by role.

- :mod:`sinks.hashtags.state`: the durable, exact tallies in Cassandra (``hashtag_state``), loaded and saved
  by the counter — the source of truth.
- :mod:`sinks.hashtags.views`: the Redis views projected from that state (counts, related tags, top posts,
  trending author buckets).
- :mod:`sinks.hashtags.reads`: the API's read repository (Redis first, Cassandra behind it).
"""
