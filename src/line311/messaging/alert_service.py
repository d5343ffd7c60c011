"""The alert service: what the API, the CLI and the phone line call.

It reads an alert from the `AlertStore`, asks the pure lifecycle (`line311.messaging.alerts`)
whether the action is allowed (and, for an alert targeted at a node, the IVR flow whether
callers can hear it there: `line311.ivr.alert_nodes`), saves the result with its audit
entries, and keeps the audio files in step (`AlertAudioFiles`): approving publishes the
alert's prompt files, withdrawal and expiry remove them. Every change is handed to the
registered listeners (the scheduler wakes up, the SSE feed tells CCR desktops).

Synchronous (SQLAlchemy and subprocesses): async callers run it in a thread.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from line311.errors import Line311Error
from line311.ivr.alert_nodes import NodeRefusal, alert_target_nodes, node_refusal
from line311.messaging.alert_store import AlertStore, AudioAsset
from line311.messaging.alerts import (
    SYSTEM_ACTOR,
    TERMINAL_STATES,
    Action,
    Alert,
    AlertKind,
    AlertState,
    Announcement,
    ApprovalPolicy,
    AudioRef,
    AudioSource,
    AuditEntry,
    Targeting,
    active_alerts,
    apply,
    due_actions,
    edit,
)
from line311.messaging.errors import AlertError, AlertNotFound, InvalidAlertNode
from line311.messaging.recording import AlertAudioFiles, Master

if TYPE_CHECKING:
    from line311.config import Settings
    from line311.ivr.flow import Flow
    from line311.messaging.tts import TtsEngine

__all__ = ["AlertChange", "AlertService", "new_alert_id"]

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class AlertChange:
    """An alert after a change, and the audit entry of that change."""

    alert: Alert
    entry: AuditEntry


def new_alert_id(now: datetime) -> str:
    """A fresh alert id: ``<yyyymmdd>-<8 hex>`` (usable in a prompt id and a path)."""
    return f"{now:%Y%m%d}-{secrets.token_hex(4)}"


class AlertService:
    """Alert operations with storage, audio and audit (see the module docstring)."""

    def __init__(
        self,
        store: AlertStore,
        files: AlertAudioFiles,
        *,
        policy: ApprovalPolicy = ApprovalPolicy(),  # noqa: B008 - frozen
        clock: Clock = lambda: datetime.now(UTC),
        tts_engine: Callable[[], TtsEngine] | None = None,
        flow: Callable[[], Flow] | None = None,
    ) -> None:
        self.store = store
        self.flow = flow
        """The IVR flow callers are in now, to check the node an alert targets (None: not
        checked). The controller gives the flow it runs (reloads included)."""
        self.files = files
        self.policy = policy
        self._clock = clock
        self._tts_engine = tts_engine
        self._listeners: list[Callable[[AlertChange], None]] = []

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        store: AlertStore,
        *,
        copy_to_asterisk: bool = True,
        flow: Callable[[], Flow] | None = None,
    ) -> AlertService:
        """The service for ``settings``. ``flow``: the IVR flow to check alert nodes against;
        by default the configured flow file (``flow_file``, else the shipped flow), read
        when a node is checked (a process that runs no IVR: the CLI)."""
        from line311.ivr.flow import default_flow_path, load_flow_file
        from line311.messaging.tts import make_engine

        flow_path = settings.flow_file or default_flow_path()
        return cls(
            store,
            AlertAudioFiles.from_settings(settings, copy_to_asterisk=copy_to_asterisk),
            policy=ApprovalPolicy(four_eyes=settings.alerts_four_eyes),
            tts_engine=lambda: make_engine(settings.alerts_tts_engine),
            flow=flow or (lambda: load_flow_file(flow_path)),
        )

    def now(self) -> datetime:
        return self._clock()

    def add_listener(self, listener: Callable[[AlertChange], None]) -> None:
        self._listeners.append(listener)

    def _notify(self, change: AlertChange) -> None:
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:
                logger.exception("alert listener failed on %s", change.entry.action.value)

    # ------------------------------------------------------------------ reading
    def get(self, alert_id: str) -> Alert:
        alert = self.store.get(alert_id)
        if alert is None:
            raise AlertNotFound(f"no alert {alert_id!r}")
        return alert

    def list_alerts(self, states: Collection[AlertState] | None = None) -> list[Alert]:
        return self.store.list_alerts(states=states)

    def audit(self, alert_id: str) -> list[AuditEntry]:
        self.get(alert_id)
        return self.store.audit(alert_id)

    def assets(self, alert_id: str) -> list[AudioAsset]:
        return self.store.assets(alert_id)

    def announcements(
        self, language: str, node: str | None = None, now: datetime | None = None
    ) -> list[Announcement]:
        """What a new call of ``language`` must hear now (reads the database)."""
        return active_alerts(self.store.live(), now or self.now(), language, node)

    def check_node(self, targeting: Targeting) -> None:
        """Refuse (`InvalidAlertNode`) a node callers would not hear the alert at, or would
        hear it at before the greeting (see `line311.ivr.alert_nodes`)."""
        if targeting.node is None or self.flow is None:
            return
        try:
            flow = self.flow()
        except Line311Error as exc:
            raise AlertError(
                f"node: {targeting.node!r} cannot be checked, the IVR flow does not load: {exc}"
            ) from exc
        refusal = node_refusal(flow, targeting.node, targeting.languages)
        if refusal is None:
            return
        nodes = tuple(alert_target_nodes(flow))
        raise InvalidAlertNode(
            f"node: {refusal.message}. Nodes an alert can target in flow {flow.name!r}: "
            f"{', '.join(nodes)}",
            node=targeting.node,
            reason=refusal.reason,
            flow=flow.name,
            nodes=nodes,
        )

    def node_problems(self, alerts: Iterable[Alert]) -> dict[str, NodeRefusal]:
        """The alerts of ``alerts`` (not ended) whose node the IVR flow callers are in now
        refuses, by id: it left the flow in a reload after the alert was made. An approved
        or active one plays where an alert without a node plays; approving a draft or a
        pending one is refused (`check_node`). Empty when the flow cannot be read (logged)."""
        targeted = [
            a for a in alerts if a.targeting.node is not None and a.state not in TERMINAL_STATES
        ]
        if not targeted or self.flow is None:
            return {}
        try:
            flow = self.flow()
        except Line311Error as exc:
            logger.warning("alert nodes not checked, the IVR flow does not load: %s", exc)
            return {}
        out = {}
        for alert in targeted:
            assert alert.targeting.node is not None
            refusal = node_refusal(flow, alert.targeting.node, alert.targeting.languages)
            if refusal is not None:
                out[alert.id] = refusal
        return out

    # ------------------------------------------------------------------ writing
    def create(
        self,
        *,
        actor: str,
        title: str,
        kind: AlertKind,
        starts_at: datetime,
        ends_at: datetime,
        priority: int = 5,
        languages: Collection[str] = (),
        node: str | None = None,
        texts: Mapping[str, str] | None = None,
        ccr_text: str = "",
        prompts: Mapping[str, str] | None = None,
        alert_id: str | None = None,
    ) -> Alert:
        """A new draft. ``prompts`` maps a language to an existing catalogue prompt id."""
        now = self.now()
        alert = Alert(
            id=alert_id or new_alert_id(now),
            title=title,
            kind=kind,
            author=actor,
            created_at=now,
            starts_at=starts_at,
            ends_at=ends_at,
            priority=priority,
            targeting=Targeting(frozenset(languages), node),
            texts=dict(texts or {}),
            audio={
                lang: AudioRef(AudioSource.CATALOGUE, prompt)
                for lang, prompt in (prompts or {}).items()
            },
            ccr_text=ccr_text,
            updated_at=now,
        )
        self.check_node(alert.targeting)
        entry = AuditEntry(alert.id, now, actor, Action.EDIT, alert.state, alert.state, "created")
        self.store.add(alert, entry)
        logger.info("alert %s created by %s", alert.id, actor)
        self._notify(AlertChange(alert, entry))
        return alert

    def edit(self, alert_id: str, *, actor: str, note: str = "", **changes: Any) -> Alert:
        """Change a draft's content (title, texts, ccr_text, priority, window, targeting)."""
        before = self.get(alert_id)
        after, entry = edit(before, actor=actor, now=self.now(), note=note or "edited", **changes)
        if after.targeting != before.targeting:
            self.check_node(after.targeting)
        return self._save(before, after, [entry])

    def _set_audio(
        self, alert_id: str, language: str, ref: AudioRef, actor: str, note: str
    ) -> Alert:
        before = self.get(alert_id)
        audio = {**before.audio, language: ref}
        after, entry = edit(before, actor=actor, now=self.now(), note=note, audio=audio)
        return self._save(before, after, [entry])

    def _keep_master(
        self, alert: Alert, language: str, master: Master, source: AudioSource, ref: str, actor: str
    ) -> AudioAsset:
        asset = AudioAsset(
            alert_id=alert.id,
            language=language,
            source=source,
            ref=ref[:200],
            path=self.files.relative_master(alert.id, language),
            duration=round(master.measure.duration, 3),
            rms_dbfs=round(max(master.measure.rms_dbfs, -200.0), 2),
            sha256=master.sha256,
            created_by=actor,
            created_at=self.now(),
        )
        note = f"audio {language}: {source.value} {ref} ({master.measure.duration:.1f} s)"
        self._set_audio(alert.id, language, AudioRef(source, ref, asset.duration), actor, note)
        self.store.put_asset(asset)
        return asset

    def _editable(self, alert_id: str) -> Alert:
        alert = self.get(alert_id)
        if alert.state is not AlertState.DRAFT:
            raise AlertError(f"alert {alert_id} is {alert.state.value}: audio changes need a draft")
        return alert

    def upload_audio(
        self,
        alert_id: str,
        language: str,
        data: bytes,
        *,
        filename: str,
        media_type: str | None,
        actor: str,
    ) -> AudioAsset:
        """Convert and keep an uploaded file as the alert's audio in ``language``."""
        alert = self._editable(alert_id)
        master = self.files.store_upload(alert.id, language, data, filename, media_type)
        return self._keep_master(alert, language, master, AudioSource.UPLOAD, filename, actor)

    def synthesize(
        self, alert_id: str, *, actor: str, languages: Collection[str] | None = None
    ) -> list[AudioAsset]:
        """Read the alert's typed text in each language (default: every language with text)."""
        alert = self._editable(alert_id)
        wanted = list(languages) if languages is not None else sorted(alert.texts)
        missing = [lang for lang in wanted if not alert.texts.get(lang, "").strip()]
        if missing or not wanted:
            raise AlertError(
                f"alert {alert_id}: no text to read in {', '.join(missing) or 'any language'}"
            )
        if self._tts_engine is None:
            raise AlertError("no TTS engine is configured")
        engine = self._tts_engine()
        out = []
        for lang in wanted:
            master = self.files.store_tts(alert.id, lang, alert.texts[lang], engine)
            out.append(self._keep_master(alert, lang, master, AudioSource.TTS, engine.name, actor))
        return out

    def store_recording(
        self, alert_id: str, language: str, wav: Path, *, actor: str, ref: str
    ) -> AudioAsset:
        """Keep a phone recording (a WAV of any rate) as the alert's audio in ``language``."""
        alert = self._editable(alert_id)
        master = self.files.store_wav(alert.id, language, wav)
        return self._keep_master(alert, language, master, AudioSource.PHONE, ref, actor)

    # ------------------------------------------------------------------ lifecycle
    def _save(self, before: Alert, after: Alert, entries: list[AuditEntry]) -> Alert:
        self.store.save(before, after, entries)
        for entry in entries:
            logger.debug(
                "alert %s transition %s --%s--> %s by %s",
                after.id, entry.from_state.value, entry.action.value, entry.to_state.value,
                entry.actor,
            )  # fmt: skip
        self._after(after, entries)
        for entry in entries:
            self._notify(AlertChange(after, entry))
        return after

    def _after(self, alert: Alert, entries: list[AuditEntry]) -> None:
        """Keep the prompt files in step with the state: published from approval (so they
        are in place before the start), removed when the alert ends."""
        if alert.state in TERMINAL_STATES:
            self.files.unpublish(alert.id)
        elif alert.kind.for_callers and any(
            e.action in (Action.APPROVE, Action.ACTIVATE) for e in entries
        ):
            self.files.publish(alert.id, alert.targeting.target_languages())

    def act(self, alert_id: str, action: Action, *, actor: str, note: str = "") -> Alert:
        """Submit, approve, reject or withdraw. An approval whose start has come activates
        the alert at once (two audit entries); an approval checks the alert's node against
        the flow again (`check_node`). Under four-eyes the approver must not be the
        author nor have changed the alert (its ``edit`` audit entries name who did)."""
        if action in (Action.EDIT, Action.ACTIVATE, Action.EXPIRE):
            raise AlertError(f"{action.value} is not a supervisor action")
        before = self.get(alert_id)
        now = self.now()
        editors = (
            {e.actor for e in self.store.audit(alert_id) if e.action is Action.EDIT}
            if action is Action.APPROVE
            else set()
        )
        after, entry = apply(
            before, action, actor=actor, now=now, policy=self.policy, note=note, editors=editors
        )
        entries = [entry]
        if action is Action.APPROVE:
            self.check_node(after.targeting)  # the flow may have changed since it was made
            for due in due_actions(after, now):
                after, more = apply(after, due, actor=SYSTEM_ACTOR, now=now)
                entries.append(more)
        logger.info("alert %s: %s by %s -> %s", alert_id, action.value, actor, after.state.value)
        return self._save(before, after, entries)

    def submit(self, alert_id: str, *, actor: str, note: str = "") -> Alert:
        return self.act(alert_id, Action.SUBMIT, actor=actor, note=note)

    def approve(self, alert_id: str, *, actor: str, note: str = "") -> Alert:
        return self.act(alert_id, Action.APPROVE, actor=actor, note=note)

    def reject(self, alert_id: str, *, actor: str, note: str = "") -> Alert:
        return self.act(alert_id, Action.REJECT, actor=actor, note=note)

    def withdraw(self, alert_id: str, *, actor: str, note: str = "") -> Alert:
        return self.act(alert_id, Action.WITHDRAW, actor=actor, note=note)

    def tick(
        self, now: datetime | None = None, live: Sequence[Alert] | None = None
    ) -> list[AlertChange]:
        """Apply the activations and expiries due at ``now`` (the scheduler's job). An alert
        another process changed meanwhile is skipped; the next tick sees it. ``live``: the
        store's live alerts as just read (`AlertStore.live`), to spare reading them again."""
        from line311.messaging.alert_store import AlertConflict

        now = now or self.now()
        changes = []
        for alert in self.store.live() if live is None else live:
            for action in due_actions(alert, now):
                after, entry = apply(alert, action, actor=SYSTEM_ACTOR, now=now)
                try:
                    self._save(alert, after, [entry])
                except AlertConflict:
                    logger.debug("alert %s changed meanwhile; next tick", alert.id)
                    break
                changes.append(AlertChange(after, entry))
                alert = after
        return changes
