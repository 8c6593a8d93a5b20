"""A live stream of frames: the per-stream session (``live``), face tracks across frames
(``tracking``), detector rescans beside the stream (``background_rescan``), the session log and its
summary."""
