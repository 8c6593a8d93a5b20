"""Stored media: one still image (``still``), video files (``video``, ``video_run``), many files at
once (``batch``), and the command line's input paths (``inputs``)."""
