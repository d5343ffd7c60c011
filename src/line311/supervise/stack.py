"""The processes ``line311 run`` supervises, built from the settings, in start order.

    asterisk    AsteriskManager (daemon, watched by PID)
    redis       RedisServer, AOF on, data in the state dir (daemon, watched by PID); not
                with ``redis_sentinels`` set (the operator's Sentinel group holds the state)
    crm-bridge  ``line311 crm-bridge``   log <state_dir>/crm-bridge.log
    controller  ``line311 serve``        log <state_dir>/controller.log (ARI, queues, CCR desk);
                rolling: ``line311 restart controller`` starts a new one beside it, which takes
                the ARI application (and the calls) over before the old one leaves
    ivr-worker-K  ``line311 serve --worker K``, K = 1..ivr_workers (none by default): the IVR
                of the calls it claims (app <ari_app>-wK), log <state_dir>/ivr-worker-K.log
    dashboard   ``line311 dashboard``    log <state_dir>/dashboard.log: the wallboard, sign-in
                and reports on http_port, following the controller's facts in Redis; the rest
                forwarded to the controller, which listens on controller_http_port; rolling:
                the new one listens beside the old one, which leaves once the new one is up

They stop in reverse: the dashboard first, then the controller (it hands its last call records
to the bridge), Asterisk last. The children inherit the environment, so they read the same
settings (``LINE311_CONFIG`` included) as the supervisor validated at start-up.

With ``asterisks >= 2`` (``line311 run --asterisks 2``) the first entries are instead

    kamailio    KamailioManager: the SIP edge at sip_host:sip_port (daemon, watched by PID)
    asterisk-1  AsteriskManager of each Asterisk of `asterisk_fleet`, on its own ports
    asterisk-2  ...

and the one controller drives every Asterisk (`line311.ari.fleet.AriFleet`: an ARI client per
server, one stream of events, each REST call sent to the server that holds the call): one
queue, one wallboard, one queue_log and one set of call records over all of them. Several
controllers deciding together over Redis is the next step (docs/scaling.md).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from line311.config import Settings
from line311.supervise.policy import Backoff
from line311.supervise.processes import CommandProcess, DaemonProcess, Process
from line311.supervise.status import STATUS_FILE

__all__ = ["backoff_from", "stack_processes", "status_path"]

LINE311 = (sys.executable, "-m", "line311")


def status_path(settings: Settings) -> Path:
    return Path(settings.state_dir) / STATUS_FILE


def backoff_from(settings: Settings) -> Backoff:
    return Backoff(
        initial=settings.restart_backoff_initial,
        maximum=settings.restart_backoff_max,
        reset_after=settings.restart_reset_after,
    )


def stack_processes(settings: Settings) -> list[Process]:
    from line311.asterisk.fleet import asterisk_fleet, uses_edge
    from line311.asterisk.manager import AsteriskManager
    from line311.kamailio.manager import KamailioManager
    from line311.live.server import RedisServer
    from line311.live.tls import OWN_TLS_DIR
    from line311.supervise.spare import code_stamp

    state = Path(settings.state_dir)
    env = dict(os.environ)
    # the controller keeps its calls' session state in the Redis started here, so a controller
    # that dies and is restarted resumes every call still up in Asterisk
    env["LINE311_LIVE_STATE"] = "redis"
    # the dashboard is a process of its own, following the controller through that Redis
    env["LINE311_DASHBOARD_PROCESS"] = "true"
    # with Sentinels the operator runs the Redis group: the controller finds its primary
    # through them (`line311.live.client.live_client`) and no redis-server is started here
    redis: list[Process] = []
    if not settings.redis_sentinels:
        server = RedisServer(
            state,
            port=settings.redis_port,
            # per Asterisk instance ("main" by default): in the sid root the data directory is
            # /var/lib/line311/redis-<instance>, shared by every state dir using that root
            instance=settings.asterisk_instance,
            mode=settings.redis_mode,
            root=settings.effective_asterisk_root,
            # its requirepass; the controller and the bridge read the same settings
            password=settings.redis_password.get_secret_value(),
            # with redis_tls it listens with TLS only (the clients read the same settings)
            tls_dir=state / OWN_TLS_DIR if settings.redis_tls else None,
        )
        redis = [DaemonProcess("redis", server)]
    media: list[Process]
    if uses_edge(settings):
        media = [DaemonProcess("kamailio", KamailioManager(settings))]
        media += [
            DaemonProcess(f"asterisk-{k}", AsteriskManager(each))
            for k, each in enumerate(asterisk_fleet(settings), start=1)
        ]
    else:
        media = [DaemonProcess("asterisk", AsteriskManager(settings))]

    def kept(name: str, args: list[str]) -> CommandProcess:
        """A line311 process restarted without a gap, with a warm spare (unless turned off)."""
        return CommandProcess(
            name,
            [*LINE311, *args],
            state / f"{name}.log",
            env=env,
            rolling=True,
            spare=settings.warm_spares,
            code_stamp=code_stamp,
        )

    return [
        *media,
        *redis,
        CommandProcess("crm-bridge", [*LINE311, "crm-bridge"], state / "crm-bridge.log", env=env),
        kept("controller", ["serve"]),
        *(
            kept(f"ivr-worker-{k}", ["serve", "--worker", str(k)])
            for k in range(1, settings.ivr_workers + 1)
        ),
        kept("dashboard", ["dashboard"]),
    ]
