"""The ONE place that wires line311's pure core to its edges.

    line311 run ──▶ Asterisk (child process, own session)
                 ├─▶ CRM bridge  (FastAPI on crm_host:crm_port)
                 └─▶ controller  (ARI client + per-call sessions) + HTTP /health on http_port

`run_controller` and `run_crm_bridge` run one part each (``line311 serve`` and
``line311 crm-bridge``); `run_stack` runs all three in one process and one asyncio loop and
stops them together on Ctrl-C or SIGTERM: servers first, then the ARI client, then Asterisk
(by the PID we started), so nothing is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any

from line311.config import Settings

__all__ = ["run_controller", "run_crm_bridge", "run_stack"]

logger = logging.getLogger(__name__)


def _install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def _run_until(
    stop: asyncio.Event, *parts: Callable[[asyncio.Event], Coroutine[Any, Any, None]]
) -> None:
    """Run ``parts`` until ``stop`` is set or one of them fails; then stop all of them."""
    tasks: list[asyncio.Task[None]] = [asyncio.create_task(part(stop)) for part in parts]
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    failure: BaseException | None = None
    for task in done:
        if task is not stopper and not task.cancelled() and task.exception() is not None:
            failure = task.exception()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    stopper.cancel()
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            failure = failure or result
    if failure is not None:
        raise failure


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


async def _serve(server: Any, stop: asyncio.Event) -> None:
    task = asyncio.create_task(server.serve())
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        waiter.cancel()
        task.result()
        if not server.started:
            raise OSError(f"HTTP server on port {server.config.port} could not start")
        return
    server.should_exit = True
    await task


# ---------------------------------------------------------------------- controller
async def controller_part(settings: Settings, stop: asyncio.Event) -> None:
    from line311.ari.client import AriClient
    from line311.ari.controller import Controller
    from line311.ari.ivr_edge import build_ivr_edge, flows_router, running
    from line311.ari.queue_edge import build_queue_edge
    from line311.ari.queue_edge import running as queues_running
    from line311.asterisk.manager import SOUNDS_ASTERISK_DIR
    from line311.crm_bridge.client import CrmClient
    from line311.dashboard.app import create_app
    from line311.db.engine import engine_from_settings
    from line311.http_server import make_embedded_server

    sounds_prefix = f"sound:{SOUNDS_ASTERISK_DIR}"
    async with (
        AriClient(
            settings.ari_url,
            settings.ari_user,
            settings.ari_password.get_secret_value(),
            settings.ari_app,
        ) as ari,
        CrmClient(settings.effective_crm_url, settings.crm_api_key.get_secret_value()) as crm,
    ):
        ivr = build_ivr_edge(settings, ari, crm, sounds_uri_prefix=sounds_prefix)
        queues = build_queue_edge(
            settings, ari, sounds_uri_prefix=sounds_prefix, engine=engine_from_settings(settings)
        )
        controller = Controller(
            ari,
            ivr.session_factory,
            sounds_uri_prefix=sounds_prefix,
            caller_hash_key=settings.caller_hash_key.get_secret_value(),
            record_sink=crm.post_call,
            command_handlers=ivr.command_handlers(enqueue=queues.command_handler()),
            stasis_handlers=queues.stasis_handlers(),
            channel_owners=queues.channel_owners(),
        )

        def health() -> dict[str, Any]:
            return {
                "ok": bool(controller.connected),
                "ari_connected": bool(controller.connected),
                "active_calls": controller.active_calls,
            }

        app = create_app(health)
        app.include_router(flows_router(ivr))
        app.include_router(queues.http_router())
        server = make_embedded_server(app, settings.http_host, settings.http_port)
        runner = asyncio.create_task(controller.run())
        try:
            async with running(ivr, settings.flow_watch_seconds), queues_running(queues):
                await _serve(server, stop)
        finally:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner


# ---------------------------------------------------------------------- entry points
def run_controller(settings: Settings) -> None:
    """``line311 serve``: the call controller and its /health, until a signal."""

    async def main() -> None:
        stop = asyncio.Event()
        _install_stop_signals(stop)
        await _run_until(stop, lambda s: controller_part(settings, s))

    asyncio.run(main())


def run_crm_bridge(settings: Settings) -> None:
    """``line311 crm-bridge``: the CRM bridge API, until a signal."""

    async def main() -> None:
        stop = asyncio.Event()
        _install_stop_signals(stop)
        await _run_until(stop, lambda s: crm_bridge_part(settings, s))

    asyncio.run(main())


def run_stack(settings: Settings) -> None:
    """``line311 run``: Asterisk, the CRM bridge and the controller, stopped together."""
    from line311.asterisk.manager import AsteriskManager
    from line311.db.migrate import upgrade

    upgrade(settings)
    asterisk = AsteriskManager(settings)
    asterisk.start()
    try:
        s = settings
        logger.info(
            "line311 is up:\n"
            "  SIP (carrier trunk, CCR phones)  udp:%s:%d   dial 311 or 2126399675\n"
            "  ARI (Asterisk REST + events)     %s/ari\n"
            "  line311 HTTP (/health)           http://%s:%d/health\n"
            "  CRM bridge                       http://%s:%d/health\n"
            "Ctrl-C stops everything.",
            s.sip_host, s.sip_port, s.ari_url, s.http_host, s.http_port, s.crm_host, s.crm_port,
        )  # fmt: skip

        async def main() -> None:
            stop = asyncio.Event()
            _install_stop_signals(stop)
            await _run_until(
                stop,
                lambda st: crm_bridge_part(settings, st),
                lambda st: controller_part(settings, st),
            )

        asyncio.run(main())
    finally:
        asterisk.stop()
