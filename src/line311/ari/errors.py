"""Errors of the ARI edge.

    AriError                     (line311.errors.Line311Error)
    ├── AriUnreachable           remote: connect refused, timed out, websocket dropped
    │   └── AriTimeout           remote: no answer (or no awaited event) in time
    ├── AriHttpError             remote: Asterisk answered with an HTTP error status
    │   ├── AriBadRequest        400: Asterisk refused our parameters (usually our bug)
    │   ├── AriAuthError         401/403: wrong ARI user or password
    │   ├── AriNotFound          404: the channel/bridge/playback is gone
    │   │   └── AriUnknownResource   local: no Asterisk of the fleet is known to hold it
    │   ├── AriConflict          409: e.g. the channel is not in a Stasis application
    │   └── AriServerError       5xx: Asterisk failed (e.g. a missing recording directory)
    ├── AriProtocolError         remote: malformed JSON, or an event/resource missing fields
    ├── AriNoServer              local: which Asterisk should create it is not known
    └── AriClosed                local: the client was used after close()

Foreign exceptions (httpx, websockets, json) are turned into these in exactly one place,
`line311.ari.rest.map_exceptions`; nothing else in line311 needs to know which HTTP or
websocket library the edge uses. Each class carries a stable ``error_id`` for APIs and logs.
"""

from __future__ import annotations

from line311.errors import Line311Error

__all__ = [
    "AriAuthError",
    "AriBadRequest",
    "AriClosed",
    "AriConflict",
    "AriError",
    "AriHttpError",
    "AriNoServer",
    "AriNotFound",
    "AriProtocolError",
    "AriServerError",
    "AriTimeout",
    "AriUnknownResource",
    "AriUnreachable",
    "http_error_for_status",
]

_MAX_BODY = 500


class AriError(Line311Error):
    """Base of every error the ARI edge raises."""

    error_id = "ari-error"


class AriUnreachable(AriError):
    """Asterisk could not be reached: connection refused or reset, DNS, timeout."""

    error_id = "asterisk-unreachable"


class AriTimeout(AriUnreachable):
    """Asterisk did not answer (or an awaited event did not arrive) in time."""

    error_id = "asterisk-timeout"


class AriProtocolError(AriError):
    """Asterisk sent something we cannot understand (bad JSON, missing fields)."""

    error_id = "ari-protocol-error"


class AriClosed(AriError):
    """The client was used after it was closed: a local error (our bug)."""

    error_id = "ari-client-closed"


class AriHttpError(AriError):
    """Asterisk answered a REST call with an HTTP error status."""

    error_id = "ari-http-error"

    def __init__(self, status: int, method: str, path: str, body: str = "") -> None:
        self.status = status
        self.method = method
        self.path = path
        self.body = body[:_MAX_BODY]
        detail = f": {self.body}" if self.body else ""
        super().__init__(f"ARI {method} {path} -> HTTP {status}{detail}")


class AriBadRequest(AriHttpError):
    error_id = "ari-bad-request"


class AriAuthError(AriHttpError):
    error_id = "ari-auth-failed"


class AriNotFound(AriHttpError):
    error_id = "ari-not-found"


class AriConflict(AriHttpError):
    error_id = "ari-conflict"


class AriServerError(AriHttpError):
    error_id = "asterisk-server-error"


class AriUnknownResource(AriNotFound):
    """Several Asterisks (`line311.ari.fleet`), and none is known to hold this channel,
    bridge, playback or recording: nothing was sent anywhere. To a caller it is as good as
    gone (an `AriNotFound`), but never a request to a guessed server."""

    error_id = "ari-unknown-resource"

    def __init__(self, kind: str, resource_id: str) -> None:
        self.kind = kind
        self.resource_id = resource_id
        self.status = 404
        self.method = ""
        self.path = ""
        self.body = ""
        AriError.__init__(self, f"no Asterisk of the fleet is known to hold {kind} {resource_id!r}")


class AriNoServer(AriError):
    """Several Asterisks, and a resource was to be created outside any call (no
    `line311.ari.port.acting_for`), so which server should hold it is not known: our bug."""

    error_id = "ari-no-server"


def http_error_for_status(status: int, method: str, path: str, body: str = "") -> AriHttpError:
    """The most specific `AriHttpError` for an HTTP error ``status``."""
    cls: type[AriHttpError]
    if status == 400:
        cls = AriBadRequest
    elif status in (401, 403):
        cls = AriAuthError
    elif status == 404:
        cls = AriNotFound
    elif status == 409:
        cls = AriConflict
    elif status >= 500:
        cls = AriServerError
    else:
        cls = AriHttpError
    return cls(status, method, path, body)
