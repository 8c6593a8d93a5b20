"""The classifier room's one error type, in a module of its own so that every module of the room
(the model folders, the ensembles) can raise it without importing each other."""
from __future__ import annotations


class ModelError(RuntimeError):
    """A model that can't be found or loaded; the message says which and why."""
