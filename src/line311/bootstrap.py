"""The ONE place that wires line311's pure core to its edges.

(About 600 lines on purpose: all the wiring of the processes in one file — the controller's
parts, the live journal's read-back, the entry points — so what talks to what is read in one
place.)

    line311 run (supervisor) ──▶ Asterisk    (daemon of AsteriskManager, watched by PID)
                              ├─▶ Redis       (daemon of RedisServer, AOF, watched by PID)
                              ├─▶ CRM bridge  ``line311 crm-bridge`` (FastAPI on crm_port)
                              ├─▶ controller  ``line311 serve`` (ARI + sessions + queues; HTTP
                              │               on controller_http_port)
                              ├─▶ IVR workers ``line311 serve --worker K`` (ivr_workers >= 1)
                              └─▶ dashboard   ``line311 dashboard`` (wallboard, sign-in, reports
                                              on http_port; the rest forwarded to the controller)

`run_controller`, `run_ivr_worker`, `run_dashboard` and `run_crm_bridge` run one part each
(``line311 serve [--worker K]``, ``line311 dashboard`` and ``line311 crm-bridge``);
`run_stack` runs each part as a separate process under `line311.supervise.Supervisor`, which
restarts a dead one with backoff and stops them in reverse order on Ctrl-C or SIGTERM, so
nothing is left behind; SIGHUP to it is a rolling restart of the controller, the IVR workers
and the dashboard (``line311 restart controller``).

A controller stops gracefully on SIGTERM and when a newer controller takes its ARI
application over (``ApplicationReplaced``): it hands its calls over (`Runner.drain`: no
channel is touched, every state is stored), then closes ARI, and hands its pending call
records to the bridge before it exits 0 (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import inspect
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from line311.config import Settings

if TYPE_CHECKING:
    from fastapi import APIRouter
    from prometheus_client import CollectorRegistry
    from prometheus_client.registry import Collector

    from line311.ari.client import AriClient
    from line311.ari.fleet import AriFleet
    from line311.ari.ivr_edge import IvrEdge
    from line311.ari.phones import PhoneDesk, PhoneWatch
    from line311.ari.queue_edge import QueueEdge, QueueLogWriter
    from line311.ari.runner import Runner
    from line311.ari.traffic import AriTraffic
    from line311.ari.workers import HandIn, Rescuer
    from line311.call.ports import Clock
    from line311.call.store import SessionStore
    from line311.crm_bridge.client import CrmClient
    from line311.crm_bridge.delivery import RecordDelivery
    from line311.dashboard.auth import AuditSink
    from line311.dashboard.live import LiveHub
    from line311.kamailio.edge_stats import EdgeCounters
    from line311.kamailio.registrations import RegistrationWatch
    from line311.kamailio.rpc import KamailioRpc
    from line311.live.desk import DeskLink, DeskMessage
    from line311.live.handoffs import RedisHandoffs
    from line311.live.journal import LiveJournal

__all__ = ["run_controller", "run_crm_bridge", "run_dashboard", "run_ivr_worker", "run_stack"]

logger = logging.getLogger(__name__)


def _run_loop(settings: Settings, main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``main`` on the configured event loop: uvloop if asked for and installed."""
    if settings.event_loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            logger.warning("event_loop = uvloop but uvloop is not installed; using asyncio")
        else:
            uvloop.run(main())
            return
    asyncio.run(main())


def _install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def _run_until(
    stop: asyncio.Event, *parts: Callable[[asyncio.Event], Coroutine[Any, Any, None]]
) -> None:
    """Run ``parts`` until ``stop`` is set or one of them ends; then stop all of them.

    A part that ends, well or badly, sets ``stop`` so the others wind down in their own way
    (the controller hands its last records over) instead of being cancelled mid-step; the
    first failure is raised once all have stopped.
    """
    failures: list[Exception] = []

    async def guarded(part: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> None:
        try:
            await part(stop)
        except Exception as exc:  # re-raised below, after the others have stopped
            failures.append(exc)
        finally:
            stop.set()

    async with asyncio.TaskGroup() as tg:
        for part in parts:
            tg.create_task(guarded(part), name=getattr(part, "__name__", "part"))
    if failures:
        raise failures[0]


# ---------------------------------------------------------------------- CRM bridge
async def crm_bridge_part(settings: Settings, stop: asyncio.Event) -> None:
    from line311.crm_bridge.server import make_server
    from line311.db.engine import engine_from_settings
    from line311.db.migrate import ensure_schema_current

    engine = engine_from_settings(settings)
    try:
        ensure_schema_current(engine)
    finally:
        engine.dispose()
    await _serve(make_server(settings), stop)


def _failure(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """What a part's task group failed with: its one failure as itself, else the group."""
    return group.exceptions[0] if len(group.exceptions) == 1 else group


async def _serve(server: Any, stop: asyncio.Event) -> None:
    task = asyncio.create_task(server.serve())
    waiter = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:  # e.g. a failing part of the controller: shut down cleanly
        waiter.cancel()
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.shield(task)
        raise
    if task in done:
        waiter.cancel()
        task.result()
        if not server.started:
            raise OSError(f"HTTP server on port {server.config.port} could not start")
        return
    server.should_exit = True
    await task


# ---------------------------------------------------------------------- controller
def _ari_port(
    settings: Settings, *, app: str | None = None, traffic: AriTraffic | None = None
) -> AriClient | AriFleet:
    """The controller's ARI: one client with one Asterisk; with ``asterisks >= 2`` one
    `line311.ari.fleet.AriFleet` over a client per Asterisk of the fleet, so one controller
    (one queue, one wallboard, one set of records) drives every server."""
    from line311.ari.client import AriClient
    from line311.ari.fleet import AriFleet, Server
    from line311.ari.translate import APP_EVENTS
    from line311.asterisk.fleet import asterisk_fleet, systemname

    def client(one: Settings) -> AriClient:
        return AriClient(
            one.ari_url,
            one.ari_user,
            one.ari_password.get_secret_value(),
            app or one.ari_app,
            rest_transport=one.ari_rest_transport,
            rest_sockets=one.ari_rest_sockets,
            events=APP_EVENTS if one.ari_event_filter else None,
            traffic=traffic,
        )

    if settings.asterisks < 2:
        return client(settings)
    return AriFleet([Server(systemname(one), client(one)) for one in asterisk_fleet(settings)])


@contextlib.asynccontextmanager
async def _call_clients(
    settings: Settings, registry: CollectorRegistry, *, app: str | None = None
) -> AsyncIterator[tuple[AriClient | AriFleet, CrmClient, CrmClient]]:
    """ARI (as ``app``, default the controller's; its traffic counted in ``registry``), the
    CRM client of the IVR's lookups, and the one of the call records (one try per delivery
    pass: the durable spool retries)."""
    from line311.ari.traffic import AriTraffic, TrafficCollector
    from line311.crm_bridge.client import CrmClient

    traffic = AriTraffic()
    registry.register(TrafficCollector(traffic))
    url, key = settings.effective_crm_url, settings.crm_api_key.get_secret_value()
    async with (
        _ari_port(settings, app=app, traffic=traffic) as ari,
        CrmClient(url, key) as crm,
        CrmClient(url, key, attempts=1) as record_client,
    ):
        yield ari, crm, record_client


def _runner_loops(
    runner: Runner, ari: AriClient | AriFleet, stop: asyncio.Event, settings: Settings, what: str
) -> tuple[Callable[[], Coroutine[Any, Any, None]], Callable[[], Coroutine[Any, Any, None]]]:
    """The runner's ARI loop (a newer process that took the app over stops this one) and its
    hand-over on stop: freeze the calls before anything else (the HTTP server may take a
    while to close), then let the shutdown close ARI without touching a channel."""

    async def ari_loop() -> None:
        await runner.run()
        if ari.replaced:  # a newer one has our calls: stop, don't fight it
            logger.warning("a newer %s took over ARI: handing over and stopping", what)
            stop.set()

    async def hand_over() -> None:
        await stop.wait()
        try:
            async with asyncio.timeout(max(1.0, settings.stop_grace_seconds / 2)):
                await runner.drain(save=not ari.replaced)
        except TimeoutError:
            logger.error("handing the calls over took too long; stopping anyway")

    return ari_loop, hand_over


def _phone_watch(
    settings: Settings, ari: AriClient | AriFleet, desk: PhoneDesk, devices: Mapping[str, str]
) -> PhoneWatch | None:
    """The registrations of the CCR phones ``devices`` (endpoint -> agent id), told to the
    router (`line311.ari.phones`); None when ``queue_phone_state`` is off, or with several
    Asterisks (the phones register with Kamailio: no Asterisk can tell)."""
    from line311.ari.client import AriClient
    from line311.ari.phones import PhoneWatch

    if not settings.queue_phone_state or not isinstance(ari, AriClient):
        return None
    return PhoneWatch(ari, desk, devices)


def _kamailio_rpcs(settings: Settings) -> tuple[KamailioRpc, list[tuple[str, KamailioRpc]]]:
    """The JSON-RPC of the fleet's Kamailio (on ``sip_host:kamailio_rpc_port``) for the
    registrations, which with ``kamailio_peers`` goes to a peer's address on the same port
    when that one does not answer (a pair holds one location table); and each Kamailio by host
    for its own counters, the fleet's first, each with a client that never falls back (one
    client in all without peers)."""
    from line311.config import url_host
    from line311.kamailio.rpc import KamailioRpc

    token = settings.kamailio_rpc_token.get_secret_value()

    def url(host: str) -> str:
        return f"http://{url_host(host)}:{settings.kamailio_rpc_port}/RPC"

    peers = [peer.rpartition(":")[0].strip("[]") for peer in settings.kamailio_peers]
    shared = KamailioRpc(
        url(settings.sip_host), token=token, fallbacks=[url(peer) for peer in peers]
    )
    if not peers:
        return shared, [(settings.sip_host, shared)]
    nodes = [(host, KamailioRpc(url(host), token=token)) for host in (settings.sip_host, *peers)]
    return shared, nodes


@dataclasses.dataclass
class _KamailioReads:
    """With several Asterisks, what the controller reads from Kamailio: the CCR phones'
    registrations (None with ``queue_phone_state`` off) over ``rpc``, and the edge's counters
    of each node (``clients``: every client, ``rpc`` included); `run` reads them until
    cancelled, then closes the clients."""

    rpc: KamailioRpc
    registrations: RegistrationWatch | None
    counters: list[EdgeCounters]
    clients: list[KamailioRpc]

    async def run(self) -> None:
        try:
            runs = [counters.run() for counters in self.counters]
            if self.registrations is not None:
                runs.append(self.registrations.run())
            await asyncio.gather(*runs)
        finally:
            for client in self.clients:
                await client.aclose()


def _kamailio_reads(
    settings: Settings, desk: PhoneDesk, devices: Mapping[str, str]
) -> _KamailioReads | None:
    """With several Asterisks: the registrations of the CCR phones ``devices`` in Kamailio's
    location table, polled and told to the router (`line311.kamailio.registrations`), and
    each Kamailio's failover and late-answer counters (`line311.kamailio.edge_stats`); None
    with one Asterisk."""
    from line311.asterisk.fleet import uses_edge
    from line311.kamailio.edge_stats import EdgeCounters
    from line311.kamailio.registrations import RegistrationWatch

    if not uses_edge(settings):
        return None
    rpc, nodes = _kamailio_rpcs(settings)
    watch = None
    if settings.queue_phone_state:
        poll = settings.kamailio_registration_poll
        watch = RegistrationWatch(rpc, desk, devices, interval=poll)
    pair = bool(settings.kamailio_peers)
    counters = [
        EdgeCounters(client, node=host, peers=pair and n == 0)
        for n, (host, client) in enumerate(nodes)
    ]
    clients = [rpc, *(client for _, client in nodes if client is not rpc)]
    return _KamailioReads(rpc, watch, counters, clients)


async def controller_part(
    settings: Settings, stop: asyncio.Event, *, in_process_bridge: bool = False
) -> None:
    """The controller. ``in_process_bridge``: the CRM bridge runs in this process (``line311
    run``), so call records are stored straight into its database, not posted over HTTP."""
    import time
    from zoneinfo import ZoneInfo

    from fastapi import Depends
    from prometheus_client import CollectorRegistry

    from line311.ari.ivr_edge import build_ivr_edge, running
    from line311.ari.queue_edge import build_queue_edge
    from line311.ari.queue_edge import running as queues_running
    from line311.ari.records import CallRecorder
    from line311.ari.runner import Runner
    from line311.ari.supervisor_kind import supervisor_kind
    from line311.ari.workers import HANDOVER_ARG, worker_app
    from line311.asterisk.manager import SOUNDS_ASTERISK_DIR
    from line311.call.ports import SystemClock
    from line311.crm_bridge.delivery import (
        HttpTransport,
        InProcessTransport,
        RecordDelivery,
        RecordTransport,
    )
    from line311.crm_bridge.spool import RecordSpool
    from line311.dashboard.alerts_api import create_alerts_router
    from line311.dashboard.app import create_app
    from line311.dashboard.auth import (
        AccountStore,
        Authenticator,
        require_role,
        require_role_by_method,
    )
    from line311.dashboard.feeds import IvrActivity, RuntimeActions, relay_alerts
    from line311.dashboard.flows_api import flows_router
    from line311.dashboard.live import LiveHub
    from line311.dashboard.metrics import DashboardMetrics
    from line311.dashboard.pops import PopDesk, desk_pops_router
    from line311.dashboard.process_metrics import (
        ari_connected,
        controller_calls_in_workers,
        controller_phones,
    )
    from line311.dashboard.state import AgentNamed, Fact, LiveState, QueueConfigured
    from line311.db.calls import CallRepository
    from line311.db.engine import engine_from_settings, make_session_factory
    from line311.db.migrate import ensure_schema_current
    from line311.db.outbox import OutboxStore
    from line311.db.queue_models import load_events
    from line311.http_server import make_embedded_server
    from line311.messaging.alert_service import AlertService
    from line311.messaging.alert_store import AlertStore
    from line311.messaging.feed import AlertScheduler
    from line311.routing.roster import load_roster_file

    sounds_prefix = f"sound:{SOUNDS_ASTERISK_DIR}"
    wall_clock = time.time  # the one clock of every stored call and queue time
    clock = SystemClock()  # the same clock, for the sessions
    engine = engine_from_settings(settings)
    ensure_schema_current(engine)
    sessions = make_session_factory(engine)

    # the wallboard, its sign-in and its metrics
    policy = settings.sl_policies()  # each queue's own sl_threshold / sl_goal
    hub = LiveHub(LiveState(policy, tz=ZoneInfo(settings.timezone)))
    registry = CollectorRegistry()
    metrics = DashboardMetrics(registry, hub, outbox_backlog=OutboxStore(sessions).backlog)
    auth = Authenticator(
        AccountStore(engine),
        settings.dashboard_secret.get_secret_value(),
        secure_cookie=settings.effective_secure_cookie,
        idle_seconds=settings.dashboard_idle_timeout,
    )
    ivr_activity = IvrActivity(hub)

    # pushed alerts: the scheduler keeps the live set in memory for new calls
    alert_service = AlertService.from_settings(settings, AlertStore(sessions))
    scheduler = AlertScheduler(alert_service)

    async with _call_clients(settings, registry) as (ari, crm, record_client):
        ivr = build_ivr_edge(
            settings,
            ari,
            crm,
            sounds_uri_prefix=sounds_prefix,
            # the call plays each at its moment: after the greeting (untargeted), after the
            # language choice (targeted at that language), on entering its node
            alerts_provider=lambda wall: scheduler.call_alerts(datetime.fromtimestamp(wall, UTC)),
            clock=clock,
        )
        # an alert's node is checked against the flow new calls run (reloads included);
        # the alerts API of a dashboard process is forwarded here
        alert_service.flow = lambda: ivr.flows.current
        # a reload may leave a live alert's node out: logged, counted, played after the greeting
        registry.register(_orphaned_alerts(ivr))

        def to_hub(event: object) -> None:
            hub.publish(cast("Fact", event))  # the queue runtime emits queue events only

        queues = build_queue_edge(
            settings,
            ari,
            sounds_uri_prefix=sounds_prefix,
            engine=engine,
            sinks=[to_hub],
            clock=wall_clock,
        )
        queues.subscribe(ivr_activity.on_queue_event)
        # screen pops: built when a CCR answers, streamed to that CCR's desk
        pop_desk = PopDesk(
            queues.runtime.router.queues,
            interpreter_language=queues.runtime.router.interpreter_language,
        )
        queues.runtime.on_answer = pop_desk.on_answer
        # the supervisor phone line (agent-feature *80): a session kind of the runner
        supervisor = supervisor_kind(
            ari,
            alert_service,
            clock=clock,
            max_failures=settings.alerts_pin_max_failures,
            lockout_seconds=settings.alerts_pin_lockout_seconds,
            max_record_seconds=int(settings.alerts_max_seconds),
        )

        # one record per call, when the call really ends (after its queue leg), kept in a
        # durable spool until the bridge has stored it
        transport: RecordTransport
        if in_process_bridge and not settings.crm_url:
            forward = bool(settings.crm_webhook_url)
            transport = InProcessTransport(CallRepository(sessions, forward=forward))
        else:
            transport = HttpTransport(record_client)
        spool = RecordSpool(Path(settings.state_dir) / "call_records.sqlite")
        delivery = RecordDelivery(
            spool,
            transport,
            clock=wall_clock,
            batch=settings.record_batch,
            linger=settings.record_linger,
        )
        registry.register(_write_backlog(delivery, queues.log_writer))
        recorder = CallRecorder(
            delivery,
            in_queue=queues.runtime.in_queue,
            open_leg=queues.runtime.open_leg,
            listeners=[ivr_activity.on_record],
        )
        queues.runtime.leg_sink = recorder.on_leg
        queues.runtime.on_restored_record = recorder.restore_ivr_record

        async def record_sink(record: dict[str, Any]) -> None:
            """The IVR half of a call: the screen pop needs it now; the record waits for the
            queue leg (if any) in the recorder, and in the queued call's saved state."""
            pop_desk.remember_record(record)  # the IVR path, for the pop when a CCR answers
            queues.runtime.remember_ivr(record)
            await recorder.on_ivr_record(record)

        ivr_kind = ivr.session_kind(record_sink=record_sink, enqueue=queues.command_handler())
        start_ivr = ivr_kind.start

        def start_call(start: Any) -> Any:
            session = start_ivr(start)
            ivr_activity.entered(start.call_id)
            return session

        call_store = session_store(settings)
        # IVR workers (ivr_workers >= 1) move the callers who ask for a CCR here
        handoffs = _handoffs(settings)  # None: no IVR workers
        hand_in = (
            None
            if handoffs is None
            else _hand_in(handoffs, queues, record_sink, lambda: controller, clock)
        )
        stasis_handlers = dict(queues.stasis_handlers())
        if hand_in is not None:
            stasis_handlers[HANDOVER_ARG] = hand_in.on_stasis

        phones = _phone_watch(settings, ari, queues.runtime, queues.desk.endpoints)
        kamailio = _kamailio_reads(settings, queues.runtime, queues.desk.endpoints)
        watch = phones if kamailio is None else kamailio.registrations
        if watch is not None:
            controller_phones(registry, watch.states.count)

        if kamailio is not None:
            from line311.kamailio.edge_stats import EdgeCollector

            registry.register(EdgeCollector(*kamailio.counters))

        async def take_up_hand_offs(listed: set[str]) -> None:
            if hand_in is not None:
                await hand_in.sweep(listed, controller.holds, older=5.0)
            if phones is not None:
                await phones.sync()  # the CCR phones' registrations, after every connect

        controller = Runner(
            ari,
            [dataclasses.replace(ivr_kind, start=start_call), queues.session_kind(), supervisor],
            sounds_uri_prefix=sounds_prefix,
            caller_hash_key=settings.caller_hash_key.get_secret_value(),
            clock=clock,
            store=call_store,
            observer=metrics.observe_ari_reaction,
            stasis_handlers=stasis_handlers,
            tasks=[
                *queues.tasks(),
                *([] if kamailio is None else [kamailio.run]),
            ],
            after_resync=take_up_hand_offs,
            watchers={} if phones is None else {"DeviceStateChanged": phones.on_event},
        )
        queues.runtime.bind(controller)
        ari_connected(registry, lambda: controller.connected)
        # queue_legs = workers: the workers run their callers' legs, this router decides
        desk = None
        if settings.queue_legs == "workers" and handoffs is not None:
            desk = _desk_link(settings, settings.ari_app)
            queues.runtime.use_desk(settings.ari_app, desk.send)
            queues.runtime.on_remote_ivr_record = lambda r: pop_desk.remember_record(dict(r))
            _desk_metrics(registry, desk)
            controller_calls_in_workers(registry, lambda: queues.runtime.remote_calls)
        for queue in queues.runtime.router.queues:
            hub.publish(QueueConfigured(queue, policy(queue).goal))
        for profile in load_roster_file(Path(settings.agents_file)):
            hub.publish(AgentNamed(profile.agent_id, profile.name))

        # today's figures and the CCRs' states: read back from Redis, then copied to it
        journal = None
        if settings.live_state == "redis":
            journal = await _live_journal(settings, hub, queues, call_store, registry, wall_clock)

        def health() -> dict[str, Any]:
            body: dict[str, Any] = {
                "ok": bool(controller.connected),
                "ari_connected": bool(controller.connected),
                "active_calls": controller.active_calls,
                "status": "ok",
            }
            if journal is not None:
                body["live_state"] = "up" if journal.up else "down"
                if not journal.up:
                    body["status"] = "degraded"
                    body["degraded"] = {"live_state": journal.reason}
            return body

        actions = RuntimeActions(
            hub,
            queues.runtime,
            known_agents=lambda: {a.agent_id for a in queues.runtime.agents()},
            known_queues=lambda: set(queues.runtime.router.queues),
            alerts=alert_service,
        )
        app = create_app(
            health,
            hub=hub,
            auth=auth,
            actions=actions,
            registry=registry,
            alerts_router=create_alerts_router(
                require_role("operations"),
                # the CCR message feed: what the CCRs' screens show (an idle session may watch)
                feed_dependency=require_role("operations", watching=True),
                service=alert_service,
                feed=scheduler.feed,
                max_upload_bytes=settings.alerts_max_upload_bytes,
            ),
            # reports over any stored range
            events=functools.partial(load_events, engine, agent_states=True),
            max_upload_bytes=settings.alerts_max_upload_bytes,
        )
        # what is loaded: operations; reloading: supervisor (and the CSRF token of a session)
        # (each reload and desk action is audited with who did it, as the wallboard's are,
        # and so is one refused for its role)
        app.include_router(
            flows_router(ivr, audit=auth.store.audit),
            dependencies=[Depends(require_role_by_method(audit=auth.store.audit))],
        )
        # the CCR desk API (log CCRs in/out, pause, queues, SL over any stored range): reading
        # needs the operations role, acting the supervisor role
        app.include_router(
            _desk_router(queues, ZoneInfo(settings.timezone), auth.store.audit),
            prefix="/api/desk",
            dependencies=[Depends(require_role_by_method(audit=auth.store.audit))],
        )
        # screen pops of one CCR (their own account, or a supervisor): poll or stream
        app.include_router(
            desk_pops_router(pop_desk, lambda: {a.agent_id for a in queues.runtime.agents()}),
            prefix="/api/desk",
        )
        # SO_REUSEPORT: the controller of a rolling restart listens while this one still does
        # (on controller_http_port when the dashboard is a process of its own: it owns http_port)
        server = make_embedded_server(
            app, settings.http_host, settings.controller_port, reuse_port=True
        )

        ari_loop, hand_over = _runner_loops(controller, ari, stop, settings, "controller")

        try:
            # one task group: a background part that fails stops the controller (and the
            # supervisor restarts it) instead of dying unnoticed
            async with asyncio.TaskGroup() as tg:
                background = [
                    tg.create_task(ari_loop(), name="controller"),
                    tg.create_task(scheduler.run(stop), name="alert-scheduler"),
                    tg.create_task(relay_alerts(scheduler.feed.events(), hub), name="alert-relay"),
                    tg.create_task(delivery.run(), name="call-record-delivery"),
                    tg.create_task(metrics.run(), name="metrics-outbox-backlog"),
                ]
                if journal is not None:
                    background.append(tg.create_task(journal.run(), name="live-journal"))
                if handoffs is not None and hand_in is not None:
                    # the IVR workers' calls on the wallboard; hand-offs and channels left over
                    background.append(
                        tg.create_task(_relay_ivr_activity(settings, hub), name="ivr-activity")
                    )
                    rescuer = _rescuer(settings, handoffs, hand_in, ari, controller, clock)
                    background.append(tg.create_task(rescuer.run(), name="workers-watch"))
                if desk is not None:
                    workers = [
                        worker_app(settings.ari_app, k) for k in range(1, settings.ivr_workers + 1)
                    ]
                    background += [
                        tg.create_task(desk.run(), name="desk-link-writer"),
                        tg.create_task(
                            _follow_desk(
                                desk,
                                queues.runtime.on_desk,
                                epoch=queues.runtime.use_epoch,
                                started=lambda: queues.runtime.hello(workers),
                            ),
                            name="desk-link",
                        ),
                    ]
                handing_over = tg.create_task(hand_over(), name="hand-over")
                try:
                    async with running(ivr, settings.flow_watch_seconds), queues_running(queues):
                        await _serve(server, stop)
                finally:
                    if stop.is_set() and not handing_over.done():
                        await asyncio.wait([handing_over])
                    handing_over.cancel()
                    if desk is not None:  # the last decisions for the workers' callers
                        await desk.flush(within=2.0)
                    for task in background:
                        task.cancel()
        except BaseExceptionGroup as group:
            raise _failure(group) from None
        finally:
            # calls still open: with the live state in Redis they go on under the next
            # controller, which writes their records; in memory they end here
            recorder.close(calls_go_on=settings.live_state == "redis")
            await call_store.close()  # the calls' last states, for the next controller
            if journal is not None:  # the last figures and CCR changes, if Redis answers
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(journal.flush(), 2.0)
            await delivery.drain(within=5.0)  # what is not stored now stays in the spool
            spool.close()
            engine.dispose()


def _rescuer(
    settings: Settings,
    handoffs: RedisHandoffs,
    hand_in: HandIn,
    ari: AriClient | AriFleet,
    runner: Runner,
    clock: Clock,
) -> Rescuer:
    """The controller's watch over what the IVR workers left behind, every 30 s on one
    ``GET /channels``: hand-offs nobody took, older than a worker keeps trying to move a call
    (`MAX_TRIES` tries; a caller who hung up in the instant of the move gets their IVR
    record), then broadcast channels no worker owns."""
    from line311.ari.workers import Rescuer, worker_app
    from line311.live.routing import DEFAULT_PREFIX
    from line311.live.sessions import RedisSessionStore

    apps = [worker_app(settings.ari_app, k) for k in range(1, settings.ivr_workers + 1)]
    stores = [RedisSessionStore(handoffs.client, prefix=f"{DEFAULT_PREFIX}{a}:") for a in apps]

    async def owned() -> set[str]:
        ids: set[str] = set(await handoffs.all())
        for app, store in zip(apps, stores, strict=True):
            ids |= await handoffs.claimed(app)
            ids |= set(await store.call_ids())
        return ids

    async def hand_offs(listed: set[str]) -> None:
        await hand_in.sweep(listed, runner.holds, older=120.0)

    return Rescuer(
        ari, worker=apps[0], owned=owned, held=runner.holds, clock=clock, hand_offs=hand_offs
    )


async def _relay_ivr_activity(settings: Settings, hub: LiveHub) -> None:
    """The IVR workers' calls entering and leaving their IVR, onto the wallboard."""
    from line311.dashboard.facts import CallEnteredIvr, CallLeftIvr
    from line311.live.client import live_client
    from line311.live.ivr_activity import IvrActivityFeed, IvrFact, relay

    def publish(fact: IvrFact) -> None:
        if fact.kind == "entered":
            hub.publish(CallEnteredIvr(fact.call_id, fact.at))
        else:
            hub.publish(CallLeftIvr(fact.call_id, fact.at, fact.resolved))

    await relay(IvrActivityFeed(live_client(settings, timeout=5.0)), "controller", publish)


def _desk_link(settings: Settings, me: str) -> DeskLink:
    """The desk link of ``me`` (the controller's app, or a worker's): legs in the workers."""
    from line311.live.client import live_client
    from line311.live.desk import DeskLink

    return DeskLink(live_client(settings, timeout=5.0), me=me)


def _desk_metrics(registry: CollectorRegistry, desk: DeskLink) -> None:
    """The desk link's backlog (messages not yet in Redis), what it had to drop, and its
    messages by kind."""
    from line311.dashboard.metrics import DeskLinkCollector

    registry.register(DeskLinkCollector(desk))


async def _follow_desk(
    desk: DeskLink,
    on_message: Callable[[DeskMessage], object],
    *,
    started: Callable[[], None] | None = None,
    epoch: Callable[[str], None] | None = None,
    retry: float = 1.0,
) -> None:
    """Open ``desk``'s inbox (again every ``retry`` seconds while Redis is away), take a new
    ``epoch`` if asked (the controller's), say ``started`` (what comes after it is read: no
    answer is missed), then read it for ever; a message that fails is logged, the next one
    goes on. Refused credentials are not retried."""
    from line311.live.errors import LiveAuthError, LiveUnavailableError

    warned = False
    while True:
        try:
            await desk.open()
            if epoch is not None:
                epoch(await desk.take_epoch())
            break
        except LiveAuthError:
            raise
        except LiveUnavailableError as exc:
            if not warned:
                logger.warning(
                    "desk link: cannot open the inbox (%s); trying every %g s", exc, retry
                )
                warned = True
            await asyncio.sleep(retry)
    if warned:
        logger.info("desk link: inbox open")
    if started is not None:
        started()
    async for message in desk.messages():
        try:
            result = on_message(message)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("call %s: desk message %s failed", message.call_id, message.kind)


def _handoffs(settings: Settings) -> RedisHandoffs | None:
    """Where the IVR workers leave their hand-offs and claims (None: no workers)."""
    if settings.ivr_workers < 1 or settings.live_state != "redis":
        return None
    from line311.live.client import live_client
    from line311.live.handoffs import RedisHandoffs

    return RedisHandoffs(live_client(settings, timeout=0.5))


def _hand_in(
    handoffs: RedisHandoffs,
    queues: QueueEdge,
    record_sink: Callable[[dict[str, Any]], Coroutine[Any, Any, None]],
    runner: Callable[[], Runner],
    clock: Clock,
) -> HandIn:
    """The controller's side of the IVR workers' hand-offs."""
    from line311.ari.queue_kind import QUEUE_KIND
    from line311.ari.workers import HandIn

    async def restart_ivr(new: Any, received_at: float) -> None:
        await runner().start_call(new, received_at)

    return HandIn(
        handoffs,
        enqueue=queues.command_handler(),
        record_sink=record_sink,
        runner=runner,
        queue_kind=QUEUE_KIND,
        restart_ivr=restart_ivr,
        clock=clock,
    )


async def ivr_worker_part(settings: Settings, stop: asyncio.Event, index: int) -> None:
    """IVR worker ``index`` (``line311 serve --worker K``): the IVR of the calls it claims
    from the dialplan's broadcast, in Stasis app ``<ari_app>-w<K>``; callers who ask for a
    CCR are moved to the controller (`line311.ari.workers`). /health and /metrics on
    ``ivr_worker_http_port_base + K`` (8321, 8322, ...)."""
    import time

    from prometheus_client import CollectorRegistry

    from line311.ari.ivr_edge import build_ivr_edge, running
    from line311.ari.records import CallRecorder
    from line311.ari.runner import Runner
    from line311.ari.workers import Claimer, IvrHandoff, worker_app
    from line311.asterisk.manager import SOUNDS_ASTERISK_DIR
    from line311.call.ports import SystemClock
    from line311.crm_bridge.delivery import HttpTransport, RecordDelivery
    from line311.crm_bridge.spool import RecordSpool
    from line311.dashboard.app import create_app
    from line311.dashboard.feeds import RESOLVED_OUTCOMES as RESOLVED
    from line311.dashboard.process_metrics import WorkerMetrics, ari_connected
    from line311.db.engine import engine_from_settings, make_session_factory
    from line311.errors import ConfigError
    from line311.http_server import make_embedded_server
    from line311.live.client import live_client
    from line311.live.handoffs import RedisHandoffs
    from line311.live.ivr_activity import IvrActivityFeed, IvrActivityPublisher, IvrFact
    from line311.live.routing import DEFAULT_PREFIX
    from line311.live.sessions import RedisSessionStore
    from line311.messaging.alert_service import AlertService
    from line311.messaging.alert_store import AlertStore
    from line311.messaging.feed import AlertScheduler

    if settings.live_state != "redis":
        raise ConfigError("IVR workers need live_state = redis (hand-offs and claims live there)")
    if not 1 <= index <= settings.ivr_workers:
        raise ConfigError(f"IVR worker {index}: ivr_workers is {settings.ivr_workers}")
    app_name = worker_app(settings.ari_app, index)
    sounds_prefix = f"sound:{SOUNDS_ASTERISK_DIR}"
    clock = SystemClock()
    engine = engine_from_settings(settings)
    alert_service = AlertService.from_settings(settings, AlertStore(make_session_factory(engine)))
    scheduler = AlertScheduler(alert_service)
    live = live_client(settings, timeout=0.5)
    handoffs = RedisHandoffs(live)
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)

    async with _call_clients(settings, registry, app=app_name) as (ari, crm, record_client):
        ivr = build_ivr_edge(
            settings,
            ari,
            crm,
            sounds_uri_prefix=sounds_prefix,
            alerts_provider=lambda wall: scheduler.call_alerts(datetime.fromtimestamp(wall, UTC)),
            clock=clock,
        )
        spool = RecordSpool(Path(settings.state_dir) / f"call_records-w{index}.sqlite")
        delivery = RecordDelivery(
            spool,
            HttpTransport(record_client),
            clock=time.time,
            batch=settings.record_batch,
            linger=settings.record_linger,
        )
        registry.register(_write_backlog(delivery, None))
        registry.register(_orphaned_alerts(ivr))

        async def ivr_record(record: dict[str, Any]) -> None:
            await recorder.on_ivr_record(record)  # the recorder is made below

        handoff = IvrHandoff(
            ari, handoffs, target_app=settings.ari_app, record_sink=ivr_record,
            clock=clock, on_handed_off=metrics.handed.inc,
        )  # fmt: skip
        # queue_legs = workers: the callers who ask for a CCR stay here, the controller decides
        desk = None
        queue = None
        if settings.queue_legs == "workers":
            # imported only here: a worker's start-up is import-bound (restarts count)
            from line311.ari.queue_edge import configured_queues, contact_seal, queue_options
            from line311.ari.queue_worker import WorkerQueue

            desk = _desk_link(settings, app_name)
            queue = WorkerQueue(
                ari, queue_options(settings, sounds_prefix), configured_queues(settings),
                me=app_name, controller=settings.ari_app, send=desk.send, clock=clock,
                contact_seal=contact_seal(settings), fallback=handoff.enqueue,
            )  # fmt: skip
            recorder = CallRecorder(delivery, in_queue=queue.in_queue, open_leg=queue.open_leg)
            _desk_metrics(registry, desk)
            queue.leg_sink = recorder.on_leg
            queue.on_restored_record = recorder.restore_ivr_record
        else:
            recorder = CallRecorder(delivery)
        # the wallboard's IVR figures: this worker's calls entering and leaving its IVR
        activity = IvrActivityPublisher(IvrActivityFeed(live))

        async def record_sink(record: dict[str, Any]) -> None:
            if queue is not None and queue.in_queue(str(record.get("call_id"))):
                queue.remember_ivr(record)  # kept with the leg; the screen pop's too
                await recorder.on_ivr_record(record)  # held until the leg ends
            else:
                await handoff.record_sink(record)
            outcome = str(record.get("outcome") or "")
            activity.note(
                IvrFact("left", str(record.get("call_id")), clock.now(), outcome in RESOLVED)
            )

        enqueue = handoff.enqueue if queue is None else queue.enqueue
        ivr_kind = ivr.session_kind(record_sink=record_sink, enqueue=enqueue)
        start_ivr = ivr_kind.start

        def start_call(start: Any) -> Any:
            session = start_ivr(start)
            activity.note(IvrFact("entered", start.call_id, start.now))
            return session

        ivr_kind = dataclasses.replace(ivr_kind, start=start_call)
        claimer = Claimer(  # asks the runner below (made next, before any call comes)
            ari,
            handoffs,
            load=lambda: runner.active_calls,
            accepting=lambda: runner.accepting,
            max_calls=settings.ivr_worker_max_calls,
            clock=clock,
            on_claimed=metrics.claimed.inc,
        )
        own = RedisSessionStore(live, prefix=f"{DEFAULT_PREFIX}{app_name}:", write_behind=True)
        store = _ForgetClaims(own, claimer)
        kinds = [ivr_kind, handoff.session_kind()]
        if queue is not None:
            kinds.append(queue.session_kind())
        runner = Runner(
            ari,
            kinds,
            sounds_uri_prefix=sounds_prefix,
            caller_hash_key=settings.caller_hash_key.get_secret_value(),
            clock=clock,
            store=store,
            broadcasts=claimer.on_broadcast,
            claims=claimer.claimed_channels,
            after_resync=None if queue is None else queue.after_resync,
            observer=metrics.observe_ari_reaction,
        )
        if queue is not None:
            queue.bind(runner)
        ari_connected(registry, lambda: runner.connected)
        metrics.follow(
            active_calls=lambda: runner.active_calls,
            queued_calls=None if queue is None else lambda: queue.waiting_calls,
        )

        def health() -> dict[str, Any]:
            return {
                "ok": bool(runner.connected),
                "ari_connected": bool(runner.connected),
                "app": app_name,
                "active_calls": runner.active_calls,
                "status": "ok" if runner.connected else "degraded",
            }

        server = make_embedded_server(
            create_app(health, registry=registry),
            settings.http_host,
            settings.ivr_worker_http_port(index),
            reuse_port=True,
        )

        ari_loop, hand_over = _runner_loops(runner, ari, stop, settings, f"worker {app_name}")

        logger.info("IVR worker %d up: app %s", index, app_name)
        try:
            async with asyncio.TaskGroup() as tg:
                background = [
                    tg.create_task(ari_loop(), name="worker"),
                    tg.create_task(activity.run(), name="ivr-activity"),
                    tg.create_task(claimer.run(), name="worker-load"),
                    tg.create_task(scheduler.run(stop), name="alert-scheduler"),
                    tg.create_task(delivery.run(), name="call-record-delivery"),
                ]
                if desk is not None and queue is not None:
                    background += [
                        tg.create_task(desk.run(), name="desk-link-writer"),
                        tg.create_task(_follow_desk(desk, queue.on_desk), name="desk-link"),
                    ]
                handing_over = tg.create_task(hand_over(), name="hand-over")
                try:
                    async with running(ivr, settings.flow_watch_seconds):
                        await _serve(server, stop)
                finally:
                    if stop.is_set() and not handing_over.done():
                        await asyncio.wait([handing_over])
                    handing_over.cancel()
                    if desk is not None:  # the last words of this worker's legs
                        await desk.flush(within=2.0)
                    for task in background:
                        task.cancel()
        except BaseExceptionGroup as group:
            raise _failure(group) from None
        finally:
            recorder.close(calls_go_on=True)
            await claimer.settle(within=1.0)
            await store.close()
            await delivery.drain(within=5.0)
            spool.close()
            engine.dispose()
            with contextlib.suppress(Exception):
                await live.aclose()


class _ForgetClaims:
    """A worker's session store: a call's claim goes with its stored state."""

    def __init__(self, inner: SessionStore, claimer: Any) -> None:
        self._inner = inner
        self._claimer = claimer

    async def save(self, call_id: str, entry: Any) -> None:
        await self._inner.save(call_id, entry)

    async def load(self, call_id: str) -> dict[str, Any] | None:
        return await self._inner.load(call_id)

    async def delete(self, call_id: str) -> None:
        await self._inner.delete(call_id)
        await self._claimer.forget(call_id)

    async def call_ids(self) -> list[str]:
        return await self._inner.call_ids()

    async def close(self) -> None:
        await self._inner.close()


# ---------------------------------------------------------------------- dashboard process
async def dashboard_part(settings: Settings, stop: asyncio.Event) -> None:
    """The dashboard as its own process (``line311 dashboard``, ``dashboard_process``): the
    wallboard, sign-in, the live feed and the reports on ``http_port``, its wallboard kept from
    the controller's facts in Redis (`line311.dashboard.follow`); every other request is
    forwarded to the controller (`line311.dashboard.proxy`). A newer dashboard process (a
    rolling restart) takes over: this one then stops."""
    import time
    from zoneinfo import ZoneInfo

    from prometheus_client import CollectorRegistry

    from line311.ari.queue_edge import configured_queues
    from line311.dashboard.app import create_app
    from line311.dashboard.auth import AccountStore, Authenticator
    from line311.dashboard.facts import DAY_FACTS, WALLBOARD_FACTS
    from line311.dashboard.feeds import relay_alerts
    from line311.dashboard.follow import WallboardFollower
    from line311.dashboard.live import LiveHub
    from line311.dashboard.process_metrics import WallboardProcessCollector
    from line311.dashboard.proxy import ControllerProxy
    from line311.dashboard.state import AgentNamed, LiveState, QueueConfigured
    from line311.db.engine import engine_from_settings, make_session_factory
    from line311.db.migrate import ensure_schema_current
    from line311.db.queue_models import load_events
    from line311.errors import ConfigError
    from line311.http_server import make_embedded_server
    from line311.live.client import live_client
    from line311.live.journal import LiveJournal
    from line311.messaging.alert_service import AlertService
    from line311.messaging.alert_store import AlertStore
    from line311.messaging.feed import AlertScheduler
    from line311.routing.roster import load_roster_file

    if not settings.dashboard_process:  # else the controller would share http_port with us
        raise ConfigError(
            "line311 dashboard needs dashboard_process = true (LINE311_DASHBOARD_PROCESS), for "
            "the controller too, which then leaves http_port to it (`line311 run` sets it)"
        )
    engine = engine_from_settings(settings)
    ensure_schema_current(engine)
    policy = settings.sl_policies()
    tz = ZoneInfo(settings.timezone)
    queues = list(configured_queues(settings))
    names = [(p.agent_id, p.name) for p in load_roster_file(Path(settings.agents_file))]

    def configured() -> LiveState:
        state = LiveState(policy, tz=tz)
        for queue in queues:
            state.apply(QueueConfigured(queue, policy(queue).goal))
        for agent_id, name in names:
            state.apply(AgentNamed(agent_id, name))
        return state

    hub = LiveHub(configured())

    def fresh() -> LiveState:
        """The state a read-back starts from: the alerts shown stay (they are not day facts)."""
        state = configured()
        for alert in hub.state.active_alerts():
            state.apply(alert)
        return state

    # XREAD waits up to 1 s for the next fact: the client's timeout is longer than that
    live = live_client(settings, timeout=5.0)
    journal = LiveJournal(live, DAY_FACTS, tz=tz, stream_types=WALLBOARD_FACTS)
    follower = WallboardFollower(journal, hub, fresh)
    # the alerts active now, from the database (the stream brings the changes as they come)
    scheduler = AlertScheduler(
        AlertService.from_settings(settings, AlertStore(make_session_factory(engine)))
    )
    proxy = ControllerProxy(settings.controller_url)
    registry = CollectorRegistry()
    registry.register(
        WallboardProcessCollector(
            live_state_up=lambda: follower.up,
            controller_up=lambda: proxy.reachable,
            facts_followed=lambda: follower.facts,
            clients=lambda: hub.clients,
        )
    )

    def health() -> dict[str, Any]:
        # not ready until the day has been read back once; Redis away later: degraded, not
        # down (the board shows what it had, as the controller's calls go on from memory)
        body: dict[str, Any] = {"ok": follower.loads > 0}
        body["live_state"] = "up" if follower.up else "down"
        body["status"] = "ok" if follower.up else "degraded" if follower.loads else "starting"
        if not follower.up:
            body["degraded"] = {"live_state": follower.reason}
        return body

    auth = Authenticator(
        AccountStore(engine),
        settings.dashboard_secret.get_secret_value(),
        secure_cookie=settings.effective_secure_cookie,
        idle_seconds=settings.dashboard_idle_timeout,
    )
    app = create_app(
        health,
        hub=hub,
        auth=auth,
        registry=registry,
        events=functools.partial(load_events, engine, agent_states=True),
        max_upload_bytes=settings.alerts_max_upload_bytes,
        proxy=proxy,
    )
    # SO_REUSEPORT: the dashboard of a rolling restart listens while this one still does
    server = make_embedded_server(app, settings.http_host, settings.http_port, reuse_port=True)
    me = f"{os.getpid()}.{time.time_ns()}"
    holder_key = f"{journal.prefix}dashboard"

    async def leave_when_replaced() -> None:
        """Say this is the dashboard once it listens; stop when a newer one says so."""
        claimed = False
        while not stop.is_set():
            try:
                if not claimed and server.started:
                    await live.set(holder_key, me)
                    claimed = True
                elif claimed and await live.get(holder_key) not in (me, None):
                    logger.info("a newer dashboard process took over: stopping")
                    stop.set()
                    return
            except Exception as exc:  # Redis away: the follower says so; try again
                logger.debug("dashboard holder check: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0 if claimed else 0.1)

    logger.info("dashboard process up on %s:%d", settings.http_host, settings.http_port)
    try:
        async with asyncio.TaskGroup() as tg:
            background = [
                tg.create_task(follower.run(), name="wallboard-follower"),
                tg.create_task(scheduler.run(stop), name="alert-scheduler"),
                tg.create_task(relay_alerts(scheduler.feed.events(), hub), name="alert-relay"),
                tg.create_task(leave_when_replaced(), name="dashboard-holder"),
            ]
            try:
                await _serve(server, stop)
            finally:
                for task in background:
                    task.cancel()
    except BaseExceptionGroup as group:
        raise _failure(group) from None
    finally:
        await proxy.aclose()
        with contextlib.suppress(Exception):
            await live.aclose()
        engine.dispose()


# ---------------------------------------------------------------------- entry points
def _run_part(
    settings: Settings, part: Callable[[asyncio.Event], Coroutine[Any, Any, None]]
) -> None:
    """Run one part of the stack as this process, until SIGINT or SIGTERM."""
    _log_in_background(settings)

    async def main() -> None:
        stop = asyncio.Event()
        _install_stop_signals(stop)
        await _run_until(stop, part)

    _run_loop(settings, main)


def _write_backlog(delivery: RecordDelivery, queue_log: QueueLogWriter | None) -> Collector:
    """The process's unwritten records and dropped lines, for /metrics."""
    from line311.dashboard.metrics import WriteBacklogCollector
    from line311.logs import dropped_log_lines

    dropped: dict[str, Callable[[], int]] = {"log": dropped_log_lines}
    if queue_log is not None:
        dropped["queue_log"] = lambda: queue_log.dropped
    return WriteBacklogCollector(unspooled=lambda: delivery.unspooled, dropped=dropped)


def _orphaned_alerts(ivr: IvrEdge) -> Collector:
    """The live alerts whose node the process's flow no longer has, for /metrics."""
    from line311.dashboard.metrics import OrphanedAlertsCollector

    return OrphanedAlertsCollector(ivr.orphaned_alerts)


def _log_in_background(settings: Settings) -> None:
    """A long-running process logs through a writer thread: its event loop never waits on
    the log output (`line311.logs`)."""
    from line311.logs import configure_logging

    configure_logging(settings.log_level, settings.log_format, background=True)


def run_controller(settings: Settings) -> None:
    """``line311 serve``: the call controller and its /health, until a signal."""
    _run_part(settings, lambda stop: controller_part(settings, stop))


def run_ivr_worker(settings: Settings, index: int) -> None:
    """``line311 serve --worker K``: IVR worker K, until a signal."""
    _run_part(settings, lambda stop: ivr_worker_part(settings, stop, index))


def run_dashboard(settings: Settings) -> None:
    """``line311 dashboard``: the dashboard as its own process, until a signal."""
    _run_part(settings, lambda stop: dashboard_part(settings, stop))


def run_crm_bridge(settings: Settings) -> None:
    """``line311 crm-bridge``: the CRM bridge API, until a signal."""
    _run_part(settings, lambda stop: crm_bridge_part(settings, stop))


def run_stack(settings: Settings) -> None:
    """``line311 run``: Asterisk, Redis, the CRM bridge and the controller as separate
    processes, kept up by `line311.supervise.Supervisor` until Ctrl-C or SIGTERM."""
    from line311.db.migrate import upgrade
    from line311.supervise.stack import backoff_from, stack_processes, status_path
    from line311.supervise.supervisor import Supervisor

    _log_in_background(settings)
    upgrade(settings)
    supervisor = Supervisor(
        stack_processes(settings),
        status_path(settings),
        backoff=backoff_from(settings),
        grace=settings.stop_grace_seconds,
    )
    s = settings
    logger.info(
        "line311 is starting:\n"
        "  SIP (carrier trunk, CCR phones)  udp:%s:%d   dial 311 or 2126399675\n"
        "  ARI (Asterisk REST + events)     %s/ari\n"
        "  dashboard (/, /health, /metrics) http://%s:%d/\n"
        "  controller (ARI, queues, CCRs)   http://%s:%d/health\n"
        "  CRM bridge                       http://%s:%d/health\n"
        "  live state (Redis)               %s\n"
        "`line311 status` shows each process; `line311 restart controller` (SIGHUP) restarts\n"
        "the controller without dropping a call; Ctrl-C stops everything.",
        s.sip_host, s.sip_port, s.ari_url, s.http_host, s.http_port, s.http_host,
        s.controller_http_port, s.crm_host, s.crm_port,
        _live_state_where(s),
    )  # fmt: skip

    async def main() -> None:
        stop = asyncio.Event()
        _install_stop_signals(stop)
        # SIGHUP (``line311 restart controller``, systemd's ExecReload): rolling restart
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, supervisor.request_roll)
        await supervisor.run(stop)

    asyncio.run(main())


def _live_state_where(settings: Settings) -> str:
    """Where the live state is, for the start-up banner."""
    if settings.redis_sentinels:
        sentinels = ", ".join(settings.redis_sentinels)
        return f"primary {settings.redis_sentinel_master!r} via Sentinel {sentinels}"
    scheme = "rediss" if settings.redis_tls else "redis"
    return f"{scheme}://127.0.0.1:{settings.redis_port}/0"


def _desk_router(queues: QueueEdge, tz: tzinfo, audit: AuditSink) -> APIRouter:
    """The CCR desk API over the queue edge, with SL over any stored range from the database;
    each CCR action is audited."""
    from line311.dashboard.desk import queue_api_router

    stored = None
    if queues.engine is not None:
        engine, policy = queues.engine, queues.policy

        def stored_fn(start: float, end: float) -> Any:
            import time

            from line311.db.queue_models import stored_stats

            return stored_stats(engine, start, end, policy, now=time.time())

        stored = stored_fn
    return queue_api_router(
        queues.desk, queues.runtime, stored=stored, policy=queues.policy, tz=tz, audit=audit
    )


async def _live_journal(
    settings: Settings,
    hub: LiveHub,
    queues: QueueEdge,
    call_store: SessionStore,
    registry: CollectorRegistry,
    clock: Callable[[], float],
) -> LiveJournal:
    """Read today's figures and the CCRs' states back from Redis, then copy every change to
    it (`line311.live.journal`): the wallboard and the desk figures get the day's facts again,
    each CCR is logged in / paused / in wrap-up as before, and a caller counted as waiting
    whose call did not survive is closed as timed out (reason ``controller-restart``).
    Redis away at start: a WARNING, and the figures start from what comes next."""
    from line311.dashboard.facts import DAY_FACTS, QUEUE_EVENTS, WALLBOARD_FACTS
    from line311.dashboard.process_metrics import controller_live_state
    from line311.live.client import live_client
    from line311.live.errors import LiveAuthError, LiveError
    from line311.live.journal import LiveJournal, open_calls
    from line311.queue.events import CallTimedOut
    from line311.routing.store import InMemoryRoutingStore

    client = live_client(settings, timeout=0.5)
    # a dashboard process follows every wallboard fact on the journal's stream
    streamed = WALLBOARD_FACTS if settings.dashboard_process else ()
    journal = LiveJournal(client, DAY_FACTS, tz=hub.state.tz, stream_types=streamed)
    controller_live_state(registry, lambda: journal.up)
    runtime = queues.runtime
    now = clock()
    restored = None
    live_calls: set[str] = set()
    for attempt in range(20):  # Redis starts before the controller; allow it a few seconds
        try:
            loaded = await journal.load(now)
            live_calls = set(await call_store.call_ids())
            restored = loaded
            break
        except LiveError as exc:
            # a refused password does not fix itself while Redis starts: say so at once
            if attempt == 19 or isinstance(exc, LiveAuthError):
                logger.warning("live state: cannot read the figures back (%s)", exc)
                journal.up, journal.reason = False, str(exc)
                break
            await asyncio.sleep(0.5)
    if restored is not None:
        for fact in restored.facts:
            try:
                hub.state.apply(fact)  # the wallboard (Prometheus counters restart at 0)
                if isinstance(fact, QUEUE_EVENTS):
                    runtime.hub.accumulator.feed(fact)  # the desk API's live SL
            except Exception:  # e.g. an anomaly the accumulator refuses: skip that one
                logger.exception("stored fact not replayed: %r", fact)
    hub.add_listener(journal.on_fact)
    if isinstance(runtime.router.store, InMemoryRoutingStore):
        runtime.router.store.watch_agents(journal.on_agent)
    if restored is not None:
        for saved in restored.agents.values():
            try:
                runtime.router.restore_agent(saved, now, live_calls)
            except Exception:
                logger.exception("could not restore CCR %s", saved.get("agent_id"))
        for call_id, queue in open_calls(restored.facts).items():
            if call_id not in live_calls:
                runtime.hub.emit(CallTimedOut(call_id, queue, now, "controller-restart"))
        logger.info(
            "live state read back: %d facts, %d CCRs", len(restored.facts), len(restored.agents)
        )
    return journal


def session_store(settings: Settings) -> SessionStore:
    """Where the runner saves each live call's session state after every step: in this process
    (calls survive a reconnect to Asterisk) or in line311's Redis (calls survive this process)."""
    if settings.live_state == "redis":
        from line311.live.client import live_client
        from line311.live.sessions import RedisSessionStore

        # short waits, and written behind: a call's next step never waits on Redis
        return RedisSessionStore(live_client(settings, timeout=0.5), write_behind=True)
    from line311.call.store import InMemorySessionStore

    return InMemorySessionStore()
