"""Pure domain logic shared by streams/, sinks/ and api/: no I/O here."""
