"""Every batch processor's input topics can be co-assigned: equal partition counts in the catalog."""

from __future__ import annotations

import pytest

from streams.engine.consumer import NotCoPartitionedError, check_co_partitioned
from streams.hashtags.counter import HashtagCounter
from streams.hashtags.extractor import HashtagExtractor
from streams.hashtags.popularity import PopularityUpdater


@pytest.mark.parametrize("processor", [HashtagExtractor, HashtagCounter, PopularityUpdater])
def test_each_processor_reads_topics_with_equal_partition_counts(processor: type) -> None:
    assert check_co_partitioned(processor.topics) >= 1


def test_different_partition_counts_are_refused() -> None:
    with pytest.raises(NotCoPartitionedError):
        check_co_partitioned(["like-changed", "comment-added"], {"like-changed": 4, "comment-added": 8}.__getitem__)
