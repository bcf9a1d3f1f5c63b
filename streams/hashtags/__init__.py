"""The hashtag pipeline: extraction adapter, exact per-tag tallies, popularity, trending, related tags."""
