"""photostream: the event-streaming backbone of a photo-sharing service."""

__version__ = "0.1.0"
