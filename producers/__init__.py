"""The producer SDK: typed event constructors (``producers.events``) and the one correct way to publish them
(``producers.publisher``).

The names below are re-exported lazily: importing ``producers.ids`` (which the pure domain rules do) must not
import the constructors, which import those rules (an import cycle ``photostream rebuild`` once died of).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Event", "PublishError", "PublishResult", "PublishTimeoutError", "Publisher"]


def __getattr__(name: str) -> Any:
    if name == "Event":
        from producers.events import Event

        return Event
    if name in __all__:
        from producers import publisher

        return getattr(publisher, name)
    raise AttributeError(f"module 'producers' has no attribute {name!r}")
