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


# ---------------------------------------------------------------------- pushed alerts
# MessagingError
# └── AlertError              an alert request that cannot be carried out (local)
#     ├── IllegalTransition   the lifecycle table has no such (state, action)
#     ├── FourEyesViolation   the author tried to approve their own alert under four-eyes
#     ├── AlertNotFound       no alert with that id
#     ├── InvalidAlertNode    the targeted node is not one callers can hear an alert at
#     ├── UnsupportedAudio    an upload in a format we do not take (HTTP 415)
#     ├── AudioRejected       corrupt, too short, silent or too long audio (HTTP 422)
#     └── PinRejected         phone sign-in refused (wrong PIN, or the line is locked)


class AlertError(MessagingError):
    """An alert operation was refused; the message says why."""


class IllegalTransition(AlertError):
    """The alert's lifecycle does not allow this action in its current state."""


class FourEyesViolation(AlertError):
    """Four-eyes approval is on and the approver is the alert's author."""


class AlertNotFound(AlertError):
    """No alert has the given id."""


class InvalidAlertNode(AlertError):
    """An alert targets a node of the IVR flow that no caller would hear it at, or hear it
    at in the wrong place (`line311.ivr.alert_nodes`).

    ``reason`` is a stable id: ``unknown``, ``start``, ``alerts``, ``before-language``;
    ``flow`` names the flow checked and ``nodes`` lists the nodes an alert may target.
    """

    def __init__(
        self, message: str, *, node: str, reason: str, flow: str, nodes: tuple[str, ...]
    ) -> None:
        super().__init__(message)
        self.node = node
        self.reason = reason
        self.flow = flow
        self.nodes = nodes


class UnsupportedAudio(AlertError):
    """An uploaded file is not in an audio format the alert service takes."""


class AudioRejected(AlertError):
    """Audio that cannot be used: corrupt, too short, silent or too long.

    ``reason`` is a stable id: ``corrupt``, ``too-short``, ``too-long``, ``silent``.
    """

    def __init__(self, message: str, reason: str = "corrupt") -> None:
        super().__init__(message)
        self.reason = reason


class PinRejected(AlertError):
    """A supervisor's phone sign-in was refused."""


__all__ += [
    "AlertError",
    "AlertNotFound",
    "AudioRejected",
    "FourEyesViolation",
    "IllegalTransition",
    "InvalidAlertNode",
    "PinRejected",
    "UnsupportedAudio",
]
