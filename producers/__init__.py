"""The producer SDK: typed event constructors and the one correct way to publish them."""

from producers.events import Event
from producers.publisher import Publisher, PublishError, PublishResult, PublishTimeoutError

__all__ = ["Event", "PublishError", "PublishResult", "PublishTimeoutError", "Publisher"]
