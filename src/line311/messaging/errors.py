"""Exceptions of the messaging package (TTS rendering, the sound library, alerts).

Line311Error
└── MessagingError
    ├── TtsError            a speech engine or audio converter failed, or is not available
    │                       (a missing program or an unconfigured cloud client: local)
    └── SoundLibraryError   the prompt library is incomplete or has a file in a wrong format
"""

from __future__ import annotations

from line311.errors import Line311Error

__all__ = ["MessagingError", "SoundLibraryError", "TtsError"]


class MessagingError(Line311Error):
    """Base of the messaging package's exceptions."""


class TtsError(MessagingError):
    """Rendering speech or converting audio failed; the message names the engine and voice."""


class SoundLibraryError(MessagingError):
    """The sound library could not be built or is not playable as it stands."""
