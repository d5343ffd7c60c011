"""The supervisor line's own steps: check a PIN, measure a recording, submit the alert (edge).

These carry out the three commands only a `line311.messaging.phone.SupervisorSession` emits
(`CheckPin`, `CheckAudio`, `SubmitAlert`) and answer each with its event (`PinChecked`,
`AudioChecked`, `AlertSubmitted`). Each is a command handler for a call runner::

    steps = SupervisorSteps(ari, alert_service, clock=clock)
    handlers = steps.handlers()          # {CheckPin: ..., CheckAudio: ..., SubmitAlert: ...}
    event = await handlers[type(command)](channel_id, command)

They keep nothing per call (a call carried on by another process needs nothing from here):
the recording is read back from Asterisk each time it is needed. The PIN never leaves this
module except as the hash comparison; blocking work (PBKDF2, the database, ffmpeg) runs in a
thread.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from line311.ari.port import AriPort
from line311.call.commands import CheckAudio, CheckPin, SubmitAlert
from line311.call.events import AlertSubmitted, AudioChecked, Event, PinChecked
from line311.call.ports import Clock, SystemClock
from line311.db.errors import DbError
from line311.messaging.alert_service import AlertService
from line311.messaging.alert_store import PhoneLockout
from line311.messaging.alerts import AlertKind
from line311.messaging.errors import AudioRejected, MessagingError
from line311.messaging.pins import LineLock, after_failure, after_success, is_locked, verify_pin
from line311.messaging.recording import check_quality, convert_upload, measure_wav

__all__ = ["CommandHandler", "SupervisorSteps"]

logger = logging.getLogger(__name__)

CommandHandler = Callable[[str, Any], Awaitable[Event | None]]
"""``handler(channel_id, command)``: carry out one command, return the event it answers with."""


class SupervisorSteps:
    """`CheckPin`, `CheckAudio` and `SubmitAlert` against the alert service and Asterisk."""

    def __init__(
        self,
        ari: AriPort,
        service: AlertService,
        *,
        max_failures: int = 3,
        lockout_seconds: float = 900,
        clock: Clock | None = None,
    ) -> None:
        self._ari = ari
        self._service = service
        self._max_failures = max_failures
        self._lockout = lockout_seconds
        self._clock = clock or SystemClock()

    def handlers(self) -> dict[type, CommandHandler]:
        return {CheckPin: self.check_pin, CheckAudio: self.check_audio, SubmitAlert: self.submit}

    def _wall(self) -> datetime:
        return datetime.fromtimestamp(self._clock.now(), UTC)

    # ------------------------------------------------------------------ CheckPin
    async def check_pin(self, channel_id: str, command: CheckPin) -> PinChecked:
        return await asyncio.to_thread(self._check_pin, command)

    def _check_pin(self, command: CheckPin) -> PinChecked:
        store, line = self._service.store, command.line
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
        if supervisor is None or not ok:
            logger.warning("supervisor line %s: failed sign-in", line)
            return PinChecked(ok=False, locked=is_locked(lock, now))
        logger.info("supervisor %s signed in on %s", supervisor.username, line)
        return PinChecked(ok=True, username=supervisor.username)

    # ------------------------------------------------------------------ CheckAudio
    async def check_audio(self, channel_id: str, command: CheckAudio) -> AudioChecked:
        name = command.name
        try:
            data = await self._ari.get_stored_recording_file(name)
        except Exception as exc:  # whatever the reason, the take cannot be used
            logger.warning("cannot read recording %s: %s", name, exc)
            return AudioChecked(name, "corrupt")
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

    # ------------------------------------------------------------------ SubmitAlert
    async def submit(self, channel_id: str, command: SubmitAlert) -> AlertSubmitted:
        try:
            data = await self._ari.get_stored_recording_file(command.recording)
        except Exception as exc:
            logger.warning("supervisor line: cannot read %s: %s", command.recording, exc)
            return AlertSubmitted(None)
        return await asyncio.to_thread(self._submit, command, data)

    def _submit(self, choice: SubmitAlert, data: bytes) -> AlertSubmitted:
        service = self._service
        now = self._wall()
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
            return AlertSubmitted(None)
        return AlertSubmitted(alert.id)
