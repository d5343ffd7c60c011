"""The supervisor phone line's ARI edge: runs a `SupervisorSession` on a channel.

The controller hands over channels that entered Stasis as ``agent-feature`` with the
supervisor feature code (``*80``) and forwards their raw ARI events::

    line = SupervisorLine(ari, service, lockouts=..., sounds_uri_prefix=...)
    await line.start(channel_id, line=channel_name)          # on StasisStart
    await line.on_event(raw_event)                            # every ARI event

Per call, one task: execute the session's commands (play, record, check the PIN and the
audio, submit), then wait for the next translated event until the session's deadline.
ARI recording: ``POST /channels/{id}/record`` with a beep and ``#`` to stop; the edge waits
for RecordingFinished / RecordingFailed; the stored file is read back through ARI, measured,
and refused (spoken reason) when too short, silent or too long. The PIN never leaves this
module except as the hash comparison.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from line311.db.errors import DbError
from line311.messaging.alert_service import AlertService
from line311.messaging.alert_store import PhoneLockout
from line311.messaging.alerts import AlertKind
from line311.messaging.errors import AudioRejected, MessagingError
from line311.messaging.phone import (
    AudioChecked,
    CheckAudio,
    CheckPin,
    DigitPressed,
    Hangup,
    HungUp,
    LineLock,
    PhoneCommand,
    PhoneEvent,
    PinChecked,
    Play,
    PlaybackDone,
    PlayRecording,
    RecordingDone,
    StartRecording,
    StopPlayback,
    Submit,
    Submitted,
    SupervisorSession,
    after_failure,
    after_success,
    is_locked,
    verify_pin,
)
from line311.messaging.recording import check_quality, convert_upload, measure_wav

__all__ = ["SUPERVISOR_FEATURE_CODE", "AriRecorder", "SupervisorLine", "translate_phone_event"]

logger = logging.getLogger(__name__)

SUPERVISOR_FEATURE_CODE = "*80"


class AriRecorder(Protocol):
    """The part of `line311.ari.client.AriClient` the supervisor line uses."""

    async def answer(self, channel_id: str) -> None: ...

    async def hangup(self, channel_id: str, reason: str = "normal") -> None: ...

    async def play(
        self, channel_id: str, media: str | list[str], playback_id: str, lang: str | None = None
    ) -> object: ...

    async def stop_playback(self, playback_id: str) -> None: ...

    async def record(
        self,
        channel_id: str,
        name: str,
        format: str = "wav",  # noqa: A002 - ARI's own parameter name
        *,
        max_duration: int = 0,
        max_silence: int = 0,
        beep: bool = False,
        if_exists: str = "fail",
        terminate_on: str = "none",
    ) -> object: ...

    async def get_stored_recording_file(self, name: str) -> bytes: ...

    async def delete_stored_recording(self, name: str) -> None: ...


def translate_phone_event(event: dict[str, Any]) -> tuple[str, PhoneEvent] | None:
    """(channel id, event) for the ARI events the supervisor line needs, else None."""
    kind = event.get("type")
    try:
        if kind == "ChannelDtmfReceived":
            return event["channel"]["id"], DigitPressed(str(event["digit"]))
        if kind == "PlaybackFinished":
            target = str(event["playback"]["target_uri"])
            if target.startswith("channel:"):
                return target.removeprefix("channel:"), PlaybackDone(event["playback"]["id"])
        if kind in ("RecordingFinished", "RecordingFailed"):
            rec = event["recording"]
            target = str(rec.get("target_uri", ""))
            if target.startswith("channel:"):
                done = RecordingDone(rec["name"], failed=kind == "RecordingFailed")
                return target.removeprefix("channel:"), done
        if kind in ("StasisEnd", "ChannelHangupRequest", "ChannelDestroyed"):
            return event["channel"]["id"], HungUp()
    except (KeyError, TypeError):
        logger.warning("dropping a malformed ARI %s event on the supervisor line", kind)
    return None


@dataclass(eq=False, slots=True)
class _Call:
    channel_id: str
    line: str
    session: SupervisorSession
    events: asyncio.Queue[PhoneEvent] = field(default_factory=asyncio.Queue)
    recordings: dict[str, bytes] = field(default_factory=dict)


class SupervisorLine:
    """Supervisor calls in progress (see the module docstring)."""

    def __init__(
        self,
        ari: AriRecorder,
        service: AlertService,
        *,
        sounds_uri_prefix: str,
        max_failures: int = 3,
        lockout_seconds: float = 900,
        max_record_seconds: int = 180,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._ari = ari
        self._service = service
        self._prefix = sounds_uri_prefix.rstrip("/")
        self._max_failures = max_failures
        self._lockout = lockout_seconds
        self._max_record = max_record_seconds
        self._clock = clock
        self._wall = wall
        self._calls: dict[str, _Call] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    async def start(self, channel_id: str, *, line: str) -> None:
        """Answer ``channel_id`` and run the supervisor line on it in a task. ``line`` is the
        calling endpoint; a channel name (``PJSIP/agent3-0000001a``) is reduced to the
        endpoint (``PJSIP/agent3``) so failed sign-ins count per phone across calls."""
        if line.startswith("PJSIP/") and "-" in line:
            line = line.rsplit("-", 1)[0]
        session = SupervisorSession(
            channel_id,
            self._clock(),
            max_failures=self._max_failures,
            max_record_seconds=self._max_record,
        )
        call = _Call(channel_id, line or channel_id, session)
        self._calls[channel_id] = call
        task = asyncio.create_task(self._run(call), name=f"supervisor-line-{channel_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the controller's ChannelOwner protocol: supervisor-line channels are ours, so the
    # controller neither treats them as orphans after a reconnect nor logs their events.
    def owns(self, channel_id: str) -> bool:
        return channel_id in self._calls

    async def on_channel_event(self, channel_id: str, event: object, received_at: float) -> None:
        """Translated events are not needed: `on_event` sees the raw ones first."""

    def reconcile(self, listed: set[str]) -> None:
        for channel_id, call in list(self._calls.items()):
            if channel_id not in listed:
                call.events.put_nowait(HungUp())

    async def on_event(self, raw: dict[str, Any]) -> None:
        """Feed one raw ARI event; events of other channels are ignored."""
        translated = translate_phone_event(raw)
        if translated is None:
            return
        call = self._calls.get(translated[0])
        if call is not None:
            call.events.put_nowait(translated[1])

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ------------------------------------------------------------------ per call
    async def _run(self, call: _Call) -> None:
        session = call.session
        try:
            await self._ari.answer(call.channel_id)
            while not session.finished:
                while batch := session.commands():
                    for command in batch:
                        follow = await self._execute(call, command)
                        if follow is not None:
                            session.receive(follow, self._clock())
                if session.finished:
                    break
                deadline = session.next_deadline()
                timeout = None if deadline is None else max(0.0, deadline - self._clock())
                try:
                    event = await asyncio.wait_for(call.events.get(), timeout)
                except TimeoutError:
                    session.handle_timer(self._clock())
                    continue
                session.receive(event, self._clock())
            for command in session.commands():  # the final hang-up
                await self._execute(call, command)
        except Exception:
            logger.exception("supervisor line failed on %s; hanging up", call.channel_id)
            with contextlib.suppress(Exception):
                await self._ari.hangup(call.channel_id)
        finally:
            self._calls.pop(call.channel_id, None)
            for name in call.recordings:
                with contextlib.suppress(Exception):
                    await self._ari.delete_stored_recording(name)
            logger.info("supervisor line call ended: %s", session.to_dict())

    async def _execute(self, call: _Call, command: PhoneCommand) -> PhoneEvent | None:
        ari = self._ari
        if isinstance(command, Play):
            media = [f"{self._prefix}/{command.language}/{p}" for p in command.prompt_ids]
            await ari.play(call.channel_id, media, command.playback_id)
        elif isinstance(command, PlayRecording):
            media = [f"recording:{command.name}"]
            media += [f"{self._prefix}/en/{p}" for p in command.prompt_ids]
            await ari.play(call.channel_id, media, command.playback_id)
        elif isinstance(command, StopPlayback):
            with contextlib.suppress(Exception):  # already over
                await ari.stop_playback(command.playback_id)
        elif isinstance(command, StartRecording):
            await ari.record(
                call.channel_id,
                command.name,
                "wav",
                max_duration=command.max_seconds,
                beep=True,
                if_exists="overwrite",
                terminate_on="#",
            )
            call.recordings[command.name] = b""
        elif isinstance(command, CheckPin):
            return await asyncio.to_thread(self._check_pin, call.line, command)
        elif isinstance(command, CheckAudio):
            return await self._check_audio(call, command.name)
        elif isinstance(command, Submit):
            return await asyncio.to_thread(self._submit, call, command)
        elif isinstance(command, Hangup):
            with contextlib.suppress(Exception):
                await ari.hangup(call.channel_id)
        return None

    def _check_pin(self, line: str, command: CheckPin) -> PinChecked:
        store = self._service.store
        now = self._wall()
        stored = store.lockout(line)
        lock = LineLock(stored.failures, stored.locked_until)
        if is_locked(lock, now):
            logger.warning("supervisor line %s is locked; sign-in refused", line)
            return PinChecked(ok=False, locked=True)
        supervisor = store.supervisor_by_phone_id(command.phone_id)
        ok = supervisor is not None and verify_pin(command.pin, supervisor.pin_hash)
        lock = (
            after_success(lock)
            if ok
            else after_failure(lock, now, self._max_failures, self._lockout)
        )
        store.save_lockout(PhoneLockout(line, lock.failures, lock.locked_until), now)
        if not ok:
            logger.warning("supervisor line %s: failed sign-in", line)
            return PinChecked(ok=False, locked=is_locked(lock, now))
        assert supervisor is not None
        logger.info("supervisor %s signed in on %s", supervisor.username, line)
        return PinChecked(ok=True, username=supervisor.username)

    async def _check_audio(self, call: _Call, name: str) -> AudioChecked:
        try:
            data = await self._ari.get_stored_recording_file(name)
        except Exception as exc:
            logger.warning("cannot read recording %s: %s", name, exc)
            return AudioChecked(name, "corrupt")
        call.recordings[name] = data
        return await asyncio.to_thread(self._measure, name, data)

    def _measure(self, name: str, data: bytes) -> AudioChecked:
        with tempfile.TemporaryDirectory(prefix="line311-rec-") as tmp:
            raw, wav = Path(tmp) / "raw.wav", Path(tmp) / "8k.wav"
            raw.write_bytes(data)
            try:
                convert_upload(raw, wav)
                check_quality(measure_wav(wav), self._service.files.limits)
            except AudioRejected as exc:
                logger.info("recording %s refused: %s", name, exc)
                return AudioChecked(name, exc.reason)
        return AudioChecked(name, None)

    def _submit(self, call: _Call, command: Submit) -> Submitted:
        choice = command.submission
        service = self._service
        now = self._wall()
        data = call.recordings.get(choice.recording, b"")
        try:
            alert = service.create(
                actor=choice.username,
                title=f"Phone announcement by {choice.username} ({choice.language})",
                kind=AlertKind.IVR_ANNOUNCEMENT,
                starts_at=now,
                ends_at=now + timedelta(hours=choice.hours),
                languages=() if choice.all_callers else (choice.language,),
            )
            with tempfile.TemporaryDirectory(prefix="line311-rec-") as tmp:
                path = Path(tmp) / "recording.wav"
                path.write_bytes(data)
                langs = [choice.language]
                if choice.all_callers and choice.language != "en":
                    langs.append("en")  # every caller hears it: it is also the fallback
                for lang in langs:
                    service.store_recording(
                        alert.id, lang, path, actor=choice.username, ref=choice.recording
                    )
            service.submit(alert.id, actor=choice.username, note="recorded by phone")
        except (MessagingError, DbError, OSError) as exc:
            logger.warning("supervisor line: submitting failed: %s", exc)
            return Submitted(None)
        return Submitted(alert.id)
