"""The settings fields, one group per concern; `line311.config.Settings` combines them.

Each group is a plain pydantic model holding fields only (defaults, bounds, descriptions);
validation across groups, sources and derived values live in `line311.config`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import NoDecode

from line311 import CONTENT_DIR

__all__ = [
    "REPO_ROOT",
    "AlertSettings",
    "AsteriskSettings",
    "ControllerSettings",
    "CrmSettings",
    "IvrSettings",
    "PathSettings",
    "QueueSettings",
    "ServiceLevelSettings",
    "SuperviseSettings",
]

REPO_ROOT = Path(__file__).resolve().parents[3]


def _default_state_dir() -> Path:
    return REPO_ROOT / "var"


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "line311"


class PathSettings(BaseModel):
    """Settings: where things live."""

    state_dir: Path = Field(
        default_factory=_default_state_dir,
        description="Writable directory for runtime state: generated secrets, SQLite DB, logs.",
    )
    cache_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="Cache outside the repo: the Debian sid Asterisk root, rendered TTS audio.",
    )
    sounds_dir: Path = Field(
        default=REPO_ROOT / "sounds", description="Prompt library: <sounds_dir>/<lang>/<prompt>.wav"
    )
    catalogue_dir: Path = Field(
        default=CONTENT_DIR / "catalogue",
        description="Prompt catalogue: YAML files with every prompt's text in seven languages.",
    )
    log_format: Literal["text", "json"] = Field(default="text", description="Log line format.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    event_loop: Literal["uvloop", "asyncio"] = Field(
        default="uvloop",
        description="Event loop of the controller and CRM bridge (uvloop: less CPU per call; "
        "asyncio when uvloop is not installed).",
    )


class AsteriskSettings(BaseModel):
    """Settings: Asterisk."""

    asterisk_mode: Literal["auto", "system", "chroot"] = Field(
        default="auto",
        description="auto: a system Asterisk >= 20 if installed, else a Debian sid chroot.",
    )
    asterisk_root: Path | None = Field(
        default=None,
        description="Chroot of Debian sid with Asterisk (default <cache_dir>/sid-root).",
    )
    asterisk_instance: str = Field(
        default="main",
        pattern=r"^[a-z][a-z0-9_-]{0,30}$",
        description="Name of this Asterisk instance; runtime dirs are per instance.",
    )
    sip_host: str = "127.0.0.1"
    sip_port: int = Field(default=5060, ge=1, le=65535, description="PJSIP UDP port.")
    rtp_port_start: int = Field(default=10000, ge=1024, le=65000)
    rtp_port_end: int = Field(default=12000, ge=1024, le=65535)
    ari_url: str = Field(default="http://127.0.0.1:8088", description="Asterisk HTTP base URL.")
    ari_user: str = Field(default="line311", pattern=r"^[A-Za-z0-9_.-]+$")
    ari_password: SecretStr = SecretStr("")
    ari_app: str = Field(default="line311", pattern=r"^[A-Za-z0-9_-]+$")
    ari_rest_transport: Literal["websocket", "http"] = Field(
        default="websocket",
        description="ARI REST calls over websockets (Asterisk 22.4+; HTTP while none is up) "
        "or over HTTP only.",
    )
    ari_rest_sockets: int = Field(
        default=4, ge=1, le=64, description="Websockets for ARI REST (each handles one at a time)."
    )
    ari_event_filter: bool = Field(
        default=True,
        description="Ask Asterisk for the ARI event types the controller acts on only "
        "(its application event filter); false: every event is sent.",
    )
    agent_count: int = Field(default=8, ge=0, le=2000, description="CCR endpoints agent1..agentN.")
    agent_password: SecretStr = SecretStr("")
    agent_qualify_frequency: int = Field(
        default=30,
        ge=0,
        le=3600,
        description="Seconds between the SIP OPTIONS sent to each registered CCR phone (0: "
        "off). One Asterisk: its PJSIP qualify_frequency; a phone that stops answering (power "
        "cut, pulled cable, crashed softphone) reads unavailable, so its CCR is paused "
        "'phone-offline' instead of being offered calls until the registration expires. "
        "asterisks >= 2: Kamailio's keepalive (usrloc), which drops a phone that answers none "
        "for twice this, so an offer to it fails at once and its CCR is held 'unreachable'.",
    )
    agent_qualify_timeout: float = Field(
        default=3.0,
        ge=0.5,
        le=30.0,
        description="Seconds a CCR phone has to answer a qualify OPTIONS before it counts as "
        "unreachable (PJSIP qualify_timeout).",
    )
    interpreter_endpoint: str = Field(
        default="interpreter", description="PJSIP endpoint of the interpreter line."
    )
    interpreter_contact: str = Field(
        default="sip:interpreter@127.0.0.1:5091",
        description="SIP URI the interpreter line is dialled at (conferenced into calls).",
    )
    referral_trunk: str = Field(default="referral", description="PJSIP endpoint for referrals.")
    referral_contact: str = Field(
        default="sip:referral@127.0.0.1:5090",
        description="Where the referral trunk sends calls transferred to other agencies.",
    )
    asterisks: int = Field(
        default=1,
        ge=1,
        le=16,
        description="Asterisk servers to run. 1: Asterisk itself listens at sip_host:sip_port. "
        "2 or more: Kamailio listens there and spreads calls over the Asterisks, which move to "
        "asterisk_sip_port_base+1.. (SIP) and the ARI port +0, +1.. (docs/scaling.md).",
    )
    asterisk_sip_port_base: int = Field(
        default=5160,
        ge=1,
        le=65000,
        description="With asterisks >= 2, Asterisk k (1..N) listens for SIP on this port + k.",
    )
    asterisk_edge: str = Field(
        default="",
        pattern=r"^$|^[A-Za-z0-9.-]+:\d{1,5}$",
        description="host:port of the Kamailio in front of this Asterisk; set by line311 for "
        "each Asterisk of a fleet (asterisks >= 2). Empty: this Asterisk is the SIP edge.",
    )
    kamailio_mode: Literal["auto", "system", "chroot"] = Field(
        default="auto",
        description="kamailio: auto (PATH if installed, else the Debian sid root), system, chroot.",
    )
    kamailio_rpc_port: int = Field(
        default=5070,
        ge=1,
        le=65535,
        description="With asterisks >= 2: the TCP port (on sip_host) where Kamailio answers "
        "JSON-RPC over HTTP (/RPC), to clients on its own host or in kamailio_rpc_allow that "
        "send kamailio_rpc_token; the controller reads the CCR phones' registrations and the "
        "edge's counters there.",
    )
    kamailio_peers: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="With asterisks >= 2 and a pair of Kamailios: IP:port of the other "
        "Kamailio's DMQ listener (its kamailio_dmq_port). Set on each node, the CCR phones' "
        "registrations (dmq_usrloc) and each call's Asterisk (htable) are replicated between "
        "them, so either node reaches every phone; a node that starts asks its peer for every "
        "registration. In the environment: comma-separated or a JSON list. Empty: one Kamailio.",
    )
    kamailio_dmq_port: int = Field(
        default=5090,
        ge=1,
        le=65535,
        description="With kamailio_peers: the UDP port (on sip_host) where this Kamailio "
        "takes its peers' DMQ messages (KDMQ), from those peers only.",
    )
    kamailio_rpc_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Networks (CIDR, e.g. 10.0.0.0/24; a bare address is one host) whose "
        "clients Kamailio's RPC answers besides its own host: the controllers' hosts when they "
        "run apart from Kamailio. In the environment: comma-separated or a JSON list.",
    )
    kamailio_rpc_token: SecretStr = Field(
        default=SecretStr(""),
        description="Bearer token every request to Kamailio's RPC must carry (Authorization: "
        "Bearer ...); the controller sends it. Generated into secrets.toml when unset; with "
        "the controller on another host than Kamailio, set the same on both. Letters, digits "
        "and . _ ~ + / = - only.",
    )
    kamailio_failover_timeout: float = Field(
        default=5.0,
        ge=1.0,
        le=30.0,
        description="With asterisks >= 2: seconds Kamailio waits for an Asterisk's first reply "
        "(even a 100 Trying) to a new call's INVITE before it takes that Asterisk for dead and "
        "sends the call to the next one. Shorter fails over sooner from a dead Asterisk, but "
        "a loaded one that answers late then takes the call too (two answers for one caller).",
    )
    kamailio_registration_poll: float = Field(
        default=2.0,
        ge=0.2,
        le=60.0,
        description="With asterisks >= 2: seconds between the controller's reads of Kamailio's "
        "location table (one ul.dump for every phone): a CCR whose phone is not registered is "
        "paused 'phone-offline', and offered calls again at most this long after it registers.",
    )


class ControllerSettings(BaseModel):
    """Settings: line311 controller."""

    http_host: str = "127.0.0.1"
    ivr_workers: int = Field(
        default=0,
        ge=0,
        le=16,
        description="IVR worker processes beside the controller (docs/scaling.md). 0: the "
        "controller runs every call. N: the dialplan offers each new call to the workers "
        "(StasisBroadcast); worker k runs the IVR in app <ari_app>-w<k>, serves /health and "
        "/metrics on ivr_worker_http_port_base + k, and moves a caller who asks for a "
        "representative to the controller, which keeps the queues, the CCRs and the wallboard.",
    )
    queue_legs: Literal["controller", "workers"] = Field(
        default="controller",
        description="Where a queued caller's leg runs when IVR workers run (docs/scaling.md). "
        "controller: the worker moves the caller to the controller, which runs the leg. "
        "workers: the worker keeps the caller and runs the leg (music, announcements, "
        "ringing the CCR, the bridge, the record); the controller only decides, over the "
        "desk link in Redis. Needs ivr_workers >= 1.",
    )
    ivr_worker_http_port_base: int = Field(
        default=8320,
        ge=1,
        le=65000,
        description="IVR worker k serves /health and /metrics on this port + k (8321, 8322...).",
    )
    ivr_worker_max_calls: int = Field(
        default=400,
        ge=1,
        le=10000,
        description="Calls an IVR worker holds at most; beyond that it claims no new call.",
    )
    ivr_broadcast_timeout_ms: int = Field(
        default=500,
        ge=50,
        le=10000,
        description="How long a new call waits for a worker's claim before the controller "
        "runs its IVR itself (milliseconds).",
    )
    http_port: int = Field(
        default=8311,
        ge=1,
        le=65535,
        description="line311's HTTP face: the dashboard, its APIs, /health and /metrics (in the "
        "controller, or in the dashboard process with dashboard_process).",
    )
    dashboard_process: bool = Field(
        default=False,
        description="Serve the dashboard from a process of its own (`line311 dashboard`) on "
        "http_port, fed from the live state in Redis; the controller then listens on "
        "controller_http_port and the dashboard forwards to it what acts on calls and CCRs. "
        "`line311 run` sets it.",
    )
    controller_http_port: int = Field(
        default=8319,
        ge=1,
        le=65535,
        description="The controller's HTTP port when the dashboard runs as its own process.",
    )
    dashboard_secret: SecretStr = Field(
        default=SecretStr(""), description="Signs dashboard session cookies and bearer tokens."
    )
    dashboard_secure_cookie: bool | None = Field(
        default=None,
        description="Mark the session cookie Secure (HTTPS only); default: on unless http_host "
        "is a loopback address. A sign-in that came over HTTPS (a TLS proxy's "
        "X-Forwarded-Proto) always gets a Secure cookie.",
    )
    dashboard_idle_timeout: int = Field(
        default=900,
        ge=0,
        le=86400,
        description="Seconds a dashboard session may go unused before it is refused and its "
        "user must sign in again (0: off; else at least 60). Watching the wallboard (its "
        "page and live feed) is not use, and an idle session may still watch it; every "
        "action and every other read needs a session used within this time. Bearer tokens "
        "have no idle timeout.",
    )
    greeting_prompt: str = Field(default="greeting", description="Thin-layer greeting prompt id.")
    default_language: str = "en"


class IvrSettings(BaseModel):
    """Settings: IVR flow and self-service content (line311.ari.ivr_edge)."""

    flow_file: Path | None = Field(
        default=None,
        description="IVR call flow YAML (default: the shipped content/flows/nyc311.yaml).",
    )
    content_file: Path = Field(
        default=CONTENT_DIR / "nyc311.yaml",
        description="Self-service content (parking, collection, closures, holidays) YAML.",
    )
    timezone: str = Field(
        default="America/New_York", description="The city's time zone: what 'today' means."
    )
    flow_watch_seconds: float = Field(
        default=2.0, ge=0, description="Reload flow/content files on change (poll; 0: off)."
    )
    referral_dial_timeout: int = Field(
        default=30, ge=1, le=300, description="Seconds an agency line may ring on a referral."
    )


class AlertSettings(BaseModel):
    """Settings: pushed alerts (line311.messaging)."""

    alerts_four_eyes: bool = Field(
        default=True,
        description="An alert must be approved by a supervisor other than its author and "
        "other than anyone who changed it.",
    )
    alerts_min_seconds: float = Field(
        default=1.0, gt=0, description="Alert audio shorter than this is refused (too short)."
    )
    alerts_max_seconds: float = Field(
        default=180.0, gt=0, description="Alert audio longer than this is refused (too long)."
    )
    alerts_silence_dbfs: float = Field(
        default=-45.0, le=0, description="Alert audio with an RMS level below this is silent."
    )
    alerts_max_upload_bytes: int = Field(
        default=25_000_000, ge=1000, description="Largest audio upload accepted for an alert."
    )
    alerts_tts_engine: Literal["espeak", "google"] = Field(
        default="espeak", description="Engine that reads typed alert texts (espeak: offline)."
    )
    alerts_pin_max_failures: int = Field(
        default=3, ge=1, le=20, description="Wrong PINs in a row that lock the supervisor line."
    )
    alerts_pin_lockout_seconds: int = Field(
        default=900, ge=1, description="How long the supervisor line stays locked."
    )


class ServiceLevelSettings(BaseModel):
    """Settings: service level."""

    sl_threshold: float = Field(
        default=30.0, gt=0, le=3600, description="Answered within this many seconds counts."
    )
    sl_goal: float = Field(default=0.80, gt=0, le=1, description="Target share (80/30).")
    sl_formula: Literal[
        "asterisk-sl2",
        "answered-only",
        "all-calls",
        "exclude-abandons-within-threshold",
        "exclude-short-abandons",
    ] = Field(
        default="exclude-short-abandons",
        description="Service-level definition (docs/queues.md); default excludes short abandons.",
    )
    sl_short_abandon: float = Field(
        default=5.0, ge=0, le=600, description="Abandons within this many seconds are 'short'."
    )


class QueueSettings(BaseModel):
    """Settings: queues and CCRs (line311.ari.queueing, line311.routing.roster; docs/queues.md)."""

    agents_file: Path = Field(
        default=CONTENT_DIR / "agents.yaml",
        description="CCR roster and skills (YAML).",
    )
    queues_file: Path | None = Field(
        default=None, description="Queue definitions (YAML); default: the built-in 311 queues."
    )
    queue_ring_timeout: int = Field(
        default=15, ge=3, le=120, description="Seconds a CCR's phone rings before the offer fails."
    )
    queue_auto_pause_after: int = Field(
        default=1, ge=0, le=20, description="Unanswered offers in a row that pause a CCR (0: off)."
    )
    queue_unreachable_hold: float = Field(
        default=10.0,
        ge=1,
        le=300,
        description="Seconds a CCR whose phone could not be rung at all (not registered, "
        "Asterisk out of channels or ports) is paused 'unreachable' before the router resumes "
        "them; no miss is counted. Each further failed dial in a row doubles the hold, up to "
        "queue_unreachable_hold_max.",
    )
    queue_unreachable_hold_max: float = Field(
        default=300.0,
        ge=1,
        le=3600,
        description="The longest 'unreachable' hold: a phone that stays unreachable (a CCR "
        "logged in with no phone registered) is tried again at most this often.",
    )
    queue_phone_state: bool = Field(
        default=True,
        description="Follow the CCR phones' registrations: a CCR whose phone is not "
        "registered is paused 'phone-offline' and offered no call until it registers, as "
        "app_queue skips an unavailable member. One Asterisk: its device states; asterisks "
        ">= 2: Kamailio's location table, read every kamailio_registration_poll seconds.",
    )
    queue_announce_first: float = Field(
        default=2.0, ge=0, description="Seconds after entering before the first position message."
    )
    queue_announce_interval: float = Field(
        default=45.0, ge=5, description="Seconds between position / estimated-wait messages."
    )
    queue_periodic_interval: float = Field(
        default=60.0, ge=0, description="Seconds between 'thank you for waiting' messages (0: off)."
    )
    queue_max_wait_offer_timeout: float = Field(
        default=8.0,
        ge=1,
        le=60,
        description="Seconds a caller whose maximum wait ran out has, after the apology, to "
        "press 1 for a callback that keeps their place.",
    )
    queue_whisper_language: str = Field(
        default="en", description="Language of the whisper (call language and topic) to CCRs."
    )
    callback_dial: str = Field(
        default="PJSIP/carrier/sip:{number}@{address}",
        description="Dial string of a callback; {number}: the caller's number, {address}: the "
        "host:port their call came from (the carrier). Both are kept in memory only.",
    )
    callback_dial_timeout: int = Field(
        default=30, ge=5, le=120, description="Seconds a callback rings the resident."
    )


class CrmSettings(BaseModel):
    """Settings: CRM bridge."""

    crm_host: str = "127.0.0.1"
    crm_port: int = Field(default=8312, ge=1, le=65535)
    crm_url: str = Field(default="", description="Base URL the controller posts call records to.")
    record_batch: int = Field(
        default=100, ge=1, le=500, description="Most call records sent to the bridge per request."
    )
    record_linger: float = Field(
        default=1.0,
        ge=0,
        le=5,
        description="Seconds the record delivery waits after a call ends, so records go together "
        "(each request costs the controller and the bridge ~1-3 ms of CPU, whatever its size).",
    )
    crm_api_key: SecretStr = SecretStr("")
    database_url: str = Field(
        default="", description="SQLAlchemy URL; default sqlite:///<state_dir>/line311.db"
    )
    caller_hash_key: SecretStr = SecretStr("")
    callback_contact_key: SecretStr = Field(
        default=SecretStr(""),
        description="Encrypts a kept callback's number in the call's saved state (AES-GCM).",
    )
    crm_webhook_url: str = Field(
        default="", description="External CRM webhook the outbox forwards to; empty: off."
    )
    crm_webhook_secret: SecretStr = SecretStr("")
    crm_webhook_max_attempts: int = Field(
        default=8, ge=1, le=100, description="Deliveries tried before a record is dead-lettered."
    )
    open311_url: str = Field(
        default="",
        description="Public URL of the Open311 GeoReport v2 API that /open311/discovery names "
        "(e.g. https://api.city.gov/open311/v2); empty: the URL the discovery was asked at.",
    )
    open311_contact: str = Field(
        default="Questions about this API: call 311.",
        min_length=1,
        max_length=500,
        description="Open311 discovery: how to reach the API's maintainers (public).",
    )
    open311_key_service: str = Field(
        default="An API key to file service requests is issued by the 311 line's operator.",
        min_length=1,
        max_length=500,
        description="Open311 discovery: how to get an API key (public).",
    )


class SuperviseSettings(BaseModel):
    """Settings: the processes ``line311 run`` supervises (Redis among them)."""

    redis_port: int = Field(
        default=6380, ge=1, le=65535, description="Loopback port of line311's own redis-server."
    )
    live_state: Literal["memory", "redis"] = Field(
        default="memory",
        description="Where the controller keeps live calls' session state: memory (lost with the "
        "process) or redis (line311's own redis-server on redis_port: a restarted controller "
        "resumes the calls). `line311 run` sets redis for the controller it supervises.",
    )
    redis_sentinels: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="host:port of each Redis Sentinel watching the live-state primary; the "
        "controller asks them where the primary is (and follows a failover). In the "
        "environment: comma-separated or a JSON list. Empty: line311's own redis-server on "
        "redis_port, which `line311 run` starts; set: `line311 run` starts no redis-server.",
    )
    redis_password: SecretStr = Field(
        default=SecretStr(""),
        description="Password of the live-state Redis: line311's own redis-server requires it "
        "(requirepass), and the controller sends it (AUTH). Generated into secrets.toml when "
        "unset; with redis_sentinels, set it to the primary's password (the same on every "
        "controller).",
    )
    redis_username: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9._-]{0,64}$",
        description="Redis ACL user the controller authenticates as; empty: the default user "
        "(what line311's own redis-server has).",
    )
    redis_sentinel_password: SecretStr = Field(
        default=SecretStr(""),
        description="Password of the Sentinels themselves, for Sentinels that require auth "
        "(their requirepass); empty: the Sentinels are asked without one.",
    )
    redis_tls: bool = Field(
        default=False,
        description="Speak TLS to the live-state Redis (rediss://; the Sentinels too). "
        "line311's own redis-server then listens with TLS only, with a certificate of a "
        "private CA made into <state_dir>/redis-tls.",
    )
    redis_tls_ca_file: Path | None = Field(
        default=None,
        description="CA bundle Redis's (and the Sentinels') certificate must chain to; unset: "
        "line311's own CA for its own redis-server, the system's trust store otherwise.",
    )
    redis_tls_cert_file: Path | None = Field(
        default=None, description="Client certificate for a Redis with tls-auth-clients."
    )
    redis_tls_key_file: Path | None = Field(default=None, description="Key of redis_tls_cert_file.")
    redis_sentinel_master: str = Field(
        default="line311",
        pattern=r"^[A-Za-z0-9._-]{1,64}$",
        description="Name the Sentinels monitor the live-state primary under "
        "(`sentinel monitor <name> ...`).",
    )
    redis_mode: Literal["auto", "system", "chroot"] = Field(
        default="auto",
        description="redis-server: auto (PATH if installed, else the Debian sid root), system, "
        "chroot.",
    )
    restart_backoff_initial: float = Field(
        default=0.5, gt=0, le=60, description="Seconds before restarting a process that died."
    )
    restart_backoff_max: float = Field(
        default=30.0, gt=0, le=3600, description="Cap of the doubling restart delay (seconds)."
    )
    restart_reset_after: float = Field(
        default=60.0,
        gt=0,
        description="Seconds up after which a death counts as the first failure again.",
    )
    warm_spares: bool = Field(
        default=True,
        description="`line311 run` keeps a warm spare of the controller, each IVR worker and the "
        "dashboard (libraries imported, waiting): a restart takes it over instead of starting "
        "cold (about 2 s sooner).",
    )
    stop_grace_seconds: float = Field(
        default=10.0, gt=0, le=300, description="SIGTERM to SIGKILL, per process, on stop."
    )
