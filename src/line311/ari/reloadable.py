"""Files that can be reloaded while calls run: the call flow and the self-service content.

A `Reloadable` swaps in a new value only when the file validates; a refused file is logged
with the validator's message and the old value stays.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from line311.errors import Line311Error
from line311.ivr.content import Content
from line311.ivr.flow import Flow, PromptSource, default_flow_path, load_flow_file
from line311.ivr.validate import load_content_file

__all__ = ["Reloadable", "content_registry", "flow_registry"]

logger = logging.getLogger("line311.ari.ivr_edge")

T = TypeVar("T")


class Reloadable(Generic[T]):
    """A value loaded from a file, replaced only by a successful reload.

    ``loader(path)`` raises a `Line311Error` for an invalid file: the reload is refused, the
    error logged and kept in `last_error`, and `current` stays what it was.
    """

    def __init__(self, what: str, path: Path, loader: Callable[[Path], T]) -> None:
        self.what = what
        self.path = path
        self._loader = loader
        self._mtime = self._stat()
        self.current: T = loader(path)
        self.last_error: str | None = None
        self.loaded_at = time.time()

    def _stat(self) -> float | None:
        try:
            return os.stat(self.path).st_mtime
        except OSError:
            return None

    def changed(self) -> bool:
        """Whether the file's modification time differs from the last load attempt."""
        return self._stat() != self._mtime

    def reload(self) -> T:
        """Load the file again; raise (and keep the old value) when it does not validate."""
        self._mtime = self._stat()
        try:
            value = self._loader(self.path)
        except Line311Error as exc:
            self.last_error = str(exc)
            logger.error("%s reload refused, keeping the current one: %s", self.what, exc)
            raise
        self.current = value
        self.last_error = None
        self.loaded_at = time.time()
        logger.info("%s reloaded from %s", self.what, self.path.name)
        return value


def flow_registry(
    path: Path | None, catalogue: Callable[[], PromptSource] | None
) -> Reloadable[Flow]:
    """The flow registry for ``path`` (default: the shipped flow), validated against the
    prompt catalogue ``catalogue()`` returns (read again on every reload)."""

    def load(p: Path) -> Flow:
        return load_flow_file(p, catalogue=catalogue() if catalogue is not None else None)

    return Reloadable("call flow", path or default_flow_path(), load)


def content_registry(
    path: Path, catalogue: Callable[[], PromptSource] | None
) -> Reloadable[Content]:
    def load(p: Path) -> Content:
        return load_content_file(p, catalogue=catalogue() if catalogue is not None else None)

    return Reloadable("self-service content", path, load)
