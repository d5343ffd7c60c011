"""Settings, validated once at start-up.

Sources, highest priority first: keyword arguments, environment variables (``LINE311_*``),
a TOML config file named by ``LINE311_CONFIG`` (or ``--config``), then the defaults below.
The defaults describe the embedded, loopback-only stack that ``make run`` starts.

Secrets (ARI password, agent SIP password, caller-hash key, CRM API key) have no usable
default: when unset they are generated once and kept in ``<state_dir>/secrets.toml``
(mode 0600), so a fresh checkout works without committing any secret, and a production
deployment sets them explicitly. A secret that is set must be at least `MIN_SECRET_LENGTH`
characters with at least `MIN_SECRET_DISTINCT` different characters, and not a well-known
default.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from line311.errors import ConfigError

if TYPE_CHECKING:
    from line311.queue.service_level import SlPolicies, SlPolicy

__all__ = ["Settings", "load_settings"]

REPO_ROOT = Path(__file__).resolve().parents[2]

_WEAK_SECRETS = frozenset(
    {"", "asterisk", "password", "secret", "changeme", "admin", "1234", "line311"}
)
MIN_SECRET_LENGTH = 16
MIN_SECRET_DISTINCT = 8
_SECRET_FIELDS = (
    "ari_password",
    "agent_password",
    "caller_hash_key",
    "crm_api_key",
    "crm_webhook_secret",
    "dashboard_secret",
)


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _default_state_dir() -> Path:
    return REPO_ROOT / "var"


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "line311"


class Settings(BaseSettings):
    """All of line311's settings. Every field may be set as ``LINE311_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="LINE311_",
        extra="forbid",
        validate_default=True,
    )

    # -- where things live -------------------------------------------------------------
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
    log_format: Literal["text", "json"] = Field(default="text", description="Log line format.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # -- Asterisk --------------------------------------------------------------------
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
    agent_count: int = Field(default=8, ge=0, le=2000, description="CCR endpoints agent1..agentN.")
    agent_password: SecretStr = SecretStr("")
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

    # -- line311 controller ----------------------------------------------------------------
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8311, ge=1, le=65535, description="Controller HTTP (/health).")
    dashboard_secret: SecretStr = Field(
        default=SecretStr(""), description="Signs dashboard session cookies and bearer tokens."
    )
    dashboard_secure_cookie: bool | None = Field(
        default=None,
        description="Mark the session cookie Secure (HTTPS only); default: on unless http_host "
        "is a loopback address.",
    )
    greeting_prompt: str = Field(default="greeting", description="Thin-layer greeting prompt id.")
    default_language: str = "en"

    # -- IVR flow and self-service content (line311.ari.ivr_edge) ---------------------------
    flow_file: Path | None = Field(
        default=None, description="IVR call flow YAML (default: the shipped 311 flow)."
    )
    content_file: Path = Field(
        default=REPO_ROOT / "content" / "nyc311.yaml",
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

    # -- pushed alerts (line311.messaging) -------------------------------------------------
    alerts_four_eyes: bool = Field(
        default=True, description="An alert must be approved by a supervisor other than its author."
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

    # -- service level -----------------------------------------------------------------
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

    # -- queues and CCRs (line311.ari.queueing, line311.routing.roster; docs/queues.md) ---------
    agents_file: Path = Field(
        default=REPO_ROOT / "src" / "line311" / "routing" / "agents.yaml",
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

    # -- CRM bridge ------------------------------------------------------------------
    crm_host: str = "127.0.0.1"
    crm_port: int = Field(default=8312, ge=1, le=65535)
    crm_url: str = Field(default="", description="Base URL the controller posts call records to.")
    crm_api_key: SecretStr = SecretStr("")
    database_url: str = Field(
        default="", description="SQLAlchemy URL; default sqlite:///<state_dir>/line311.db"
    )
    caller_hash_key: SecretStr = SecretStr("")
    crm_webhook_url: str = Field(
        default="", description="External CRM webhook the outbox forwards to; empty: off."
    )
    crm_webhook_secret: SecretStr = SecretStr("")
    crm_webhook_max_attempts: int = Field(
        default=8, ge=1, le=100, description="Deliveries tried before a record is dead-lettered."
    )

    # ------------------------------------------------------------------ sources
    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("LINE311_CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    # ------------------------------------------------------------------ validation
    @field_validator("ari_url", "crm_url", "crm_webhook_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http(s) URL with a host, got {value!r}")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as exc:
            raise ValueError(f"bad port in {value!r}") from exc
        return value.rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. America/New_York)") from None
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if self.rtp_port_end <= self.rtp_port_start:
            raise ValueError("rtp_port_end must be greater than rtp_port_start")
        ports = {
            "sip_port": self.sip_port,
            "http_port": self.http_port,
            "crm_port": self.crm_port,
            "ari_url port": self.ari_port,
        }
        seen: dict[int, str] = {}
        for name, port in ports.items():
            if port in seen:
                raise ValueError(f"{name} and {seen[port]} are both {port}")
            seen[port] = name
        for name in _SECRET_FIELDS:
            value: SecretStr = getattr(self, name)
            raw = value.get_secret_value()
            if raw and raw.lower() in _WEAK_SECRETS:
                raise ValueError(f"{name} is a well-known default; choose a real secret")
            if raw and (len(raw) < MIN_SECRET_LENGTH or len(set(raw)) < MIN_SECRET_DISTINCT):
                raise ValueError(
                    f"{name} is too weak: use at least {MIN_SECRET_LENGTH} characters with at "
                    f"least {MIN_SECRET_DISTINCT} different ones (e.g. a generated token)"
                )
        return self

    # ------------------------------------------------------------------ derived
    def sl_policy(self) -> SlPolicy:
        """The default service-level policy for queues that don't set their own."""
        from line311.queue.service_level import SlFormula, SlPolicy

        return SlPolicy(
            threshold=self.sl_threshold,
            goal=self.sl_goal,
            formula=SlFormula(self.sl_formula),
            short_abandon_threshold=self.sl_short_abandon,
        )

    def sl_policies(self) -> SlPolicies:
        """Each queue's policy: `sl_policy` with the queue's own ``sl_threshold`` / ``sl_goal``
        from the queue definitions (``queues_file``, or the built-in queues) when it sets them."""
        from line311.queue.service_level import SlPolicies
        from line311.routing.queues import default_queues, load_queues_yaml

        if self.queues_file is not None:
            queues = load_queues_yaml(Path(self.queues_file).read_text(encoding="utf-8"))
        else:
            queues = default_queues()
        return SlPolicies.build(
            self.sl_policy(), {q.name: (q.sl_threshold, q.sl_goal) for q in queues.values()}
        )

    @property
    def ari_port(self) -> int:
        return urlsplit(self.ari_url).port or 80

    @property
    def ari_host(self) -> str:
        return urlsplit(self.ari_url).hostname or "127.0.0.1"

    @property
    def ari_ws_url(self) -> str:
        scheme = "wss" if self.ari_url.startswith("https") else "ws"
        return f"{scheme}://{self.ari_url.split('://', 1)[1]}/ari/events"

    @property
    def effective_asterisk_root(self) -> Path:
        return self.asterisk_root or (self.cache_dir / "sid-root")

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_dir / 'line311.db'}"

    @property
    def effective_crm_url(self) -> str:
        return self.crm_url or f"http://{self.crm_host}:{self.crm_port}"

    @property
    def effective_secure_cookie(self) -> bool:
        """`dashboard_secure_cookie`, defaulting to on off loopback."""
        if self.dashboard_secure_cookie is not None:
            return self.dashboard_secure_cookie
        return not _is_loopback(self.http_host)

    @property
    def secrets_file(self) -> Path:
        return self.state_dir / "secrets.toml"

    def with_generated_secrets(self) -> Settings:
        """Fill unset secrets from ``<state_dir>/secrets.toml``, generating that file once."""
        missing = [n for n in _SECRET_FIELDS if not getattr(self, n).get_secret_value()]
        if not missing:
            return self
        stored = _load_or_create_secrets(self.secrets_file)
        update: dict[str, Any] = {n: SecretStr(stored[n]) for n in missing}
        return self.model_copy(update=update)


def _load_or_create_secrets(path: Path) -> dict[str, str]:
    stored: dict[str, str] = {}
    if path.exists():
        with path.open("rb") as fh:
            stored = {k: str(v) for k, v in tomllib.load(fh).items()}
    changed = False
    for name in _SECRET_FIELDS:
        if not stored.get(name):
            stored[name] = secrets.token_urlsafe(24)
            changed = True
    if changed:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("# generated by line311; keep private\n")
            for key, value in stored.items():
                fh.write(f'{key} = "{value}"\n')
        tmp.replace(path)
    return stored


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build and validate settings, turning a validation error into a `ConfigError`
    whose message names each bad setting and its environment variable."""
    from pydantic import ValidationError

    if config_file is not None:
        if not config_file.is_file():
            raise ConfigError(f"config file {config_file} does not exist")
        os.environ["LINE311_CONFIG"] = str(config_file)
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "settings"
            env = f" (LINE311_{loc.upper()})" if err["loc"] else ""
            lines.append(f"  {loc}{env}: {err['msg']}")
        raise ConfigError("invalid settings:\n" + "\n".join(lines)) from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file: {exc}") from None
    return settings.with_generated_secrets()
