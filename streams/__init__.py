"""Stream processors run by `photostream worker` (a faust-streaming worker)."""
