"""Settings, validated once at start-up.

Sources, highest priority first: keyword arguments, environment variables (``LINE311_*``),
a TOML config file named by ``LINE311_CONFIG`` (or ``--config``), then the defaults below.
The defaults describe the embedded, loopback-only stack that ``make run`` starts.

Secrets (ARI password, agent SIP password, caller-hash key, CRM API key, Redis password,
Kamailio's RPC token) have no usable default: when unset they are generated once and kept in
``<state_dir>/secrets.toml`` (mode 0600), so a fresh checkout works without committing any
secret, and a production deployment sets them explicitly. A secret that is set must be at
least `MIN_SECRET_LENGTH` characters with at least `MIN_SECRET_DISTINCT` different
characters, and not a well-known default.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from line311.config.fields import (
    REPO_ROOT,
    AlertSettings,
    AsteriskSettings,
    ControllerSettings,
    CrmSettings,
    IvrSettings,
    PathSettings,
    QueueSettings,
    ServiceLevelSettings,
    SuperviseSettings,
)
from line311.config.secret_store import (
    MIN_SECRET_DISTINCT,
    MIN_SECRET_LENGTH,
    OPTIONAL_SECRET_FIELDS,
    SECRET_FIELDS,
    _load_or_create_secrets,
    weak_secret_problem,
)
from line311.errors import ConfigError

if TYPE_CHECKING:
    from line311.queue.service_level import SlPolicies, SlPolicy

__all__ = [
    "MIN_SECRET_DISTINCT",
    "MIN_SECRET_LENGTH",
    "REPO_ROOT",
    "Settings",
    "load_settings",
    "peer_address",
    "rpc_network",
    "sentinel_address",
    "url_host",
]


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_host(host: str) -> str:
    """``host`` as a URL or a SIP URI writes it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})")


def sentinel_address(entry: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` for an IPv6 address) as a pair; ValueError if it is not."""
    match = _HOST_PORT.fullmatch(entry.strip())
    if match is None or not 1 <= int(match.group(2)) <= 65535:
        raise ValueError(f"Sentinel address must be host:port, got {entry!r}")
    return match.group(1).strip("[]"), int(match.group(2))


RPC_TOKEN = re.compile(r"[A-Za-z0-9._~+/=-]+")
"""What `kamailio_rpc_token` may hold: an RFC 6750 b64token, safe in Kamailio's config."""


def rpc_network(entry: str) -> str:
    """A network of `kamailio_rpc_allow` (``10.0.0.0/24``; a bare address is one host), as
    ``address/prefix``; ValueError naming the entry if it is not one."""
    import ipaddress

    try:
        return ipaddress.ip_network(entry.strip(), strict=True).with_prefixlen
    except ValueError as exc:
        raise ValueError(f"not a network (CIDR, e.g. 10.0.0.0/24): {entry!r} ({exc})") from None


def peer_address(entry: str) -> str:
    """A Kamailio peer's DMQ address (`kamailio_peers`) as ``IP:port`` (``[v6]:port``);
    ValueError naming the entry if it is not an IP address and a port."""
    import ipaddress

    match = _HOST_PORT.fullmatch(entry.strip())
    try:
        if match is None or not 1 <= int(match.group(2)) <= 65535:
            raise ValueError("no port")
        address = ipaddress.ip_address(match.group(1).strip("[]"))
    except ValueError:
        raise ValueError(f"a peer must be IP:port (its DMQ listener), got {entry!r}") from None
    return f"{url_host(str(address))}:{match.group(2)}"


_LIST_ITEMS = {
    "redis_sentinels": "host:port",
    "kamailio_peers": "IP:port",
    "kamailio_rpc_allow": "networks",
}
"""The list settings read from text, and what each one lists (for the error)."""

_V6_FIRST = re.compile(r"\[[0-9A-Fa-f:.]+\]:\d")
"""A comma-separated list that starts with an IPv6 ``[address]:port``, not a JSON list."""


def _split_list(value: Any, what: str) -> Any:
    """A list setting given as text (the environment): comma-separated or a JSON list."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("[") and not _V6_FIRST.match(text):
        import json

        try:
            return json.loads(text)
        except ValueError as exc:
            raise ValueError(f"not a JSON list of {what}: {exc}") from None
    return [part.strip() for part in text.split(",") if part.strip()]


# The groups are listed last-first: pydantic orders fields from the last base to the first, so
# this keeps the order of the settings as documented (paths first, CRM last).
class Settings(
    SuperviseSettings,
    CrmSettings,
    QueueSettings,
    ServiceLevelSettings,
    AlertSettings,
    IvrSettings,
    ControllerSettings,
    AsteriskSettings,
    PathSettings,
    BaseSettings,
):
    """All of line311's settings. Every field may be set as ``LINE311_<NAME>``.

    The fields are declared by group in `line311.config.fields`."""

    model_config = SettingsConfigDict(
        env_prefix="LINE311_",
        extra="forbid",
        validate_default=True,
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
    @field_validator("ari_url", "crm_url", "crm_webhook_url", "open311_url")
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

    @field_validator("redis_sentinels", "kamailio_peers", "kamailio_rpc_allow", mode="before")
    @classmethod
    def _split_lists(cls, value: Any, info: ValidationInfo) -> Any:
        """``LINE311_REDIS_SENTINELS`` and the other lists: comma-separated or a JSON list."""
        return _split_list(value, _LIST_ITEMS[info.field_name or ""])

    @field_validator("redis_sentinels")
    @classmethod
    def _check_sentinels(cls, value: list[str]) -> list[str]:
        for entry in value:
            sentinel_address(entry)  # raises ValueError naming the bad entry
        return value

    @field_validator("kamailio_peers", "kamailio_rpc_allow")
    @classmethod
    def _normalise_addresses(cls, value: list[str], info: ValidationInfo) -> list[str]:
        """Each entry as Kamailio's config spells it; ValueError naming a bad one."""
        normal = peer_address if info.field_name == "kamailio_peers" else rpc_network
        return [normal(entry) for entry in value]

    @field_validator("kamailio_rpc_token")
    @classmethod
    def _check_rpc_token(cls, value: SecretStr) -> SecretStr:
        if not RPC_TOKEN.fullmatch(value.get_secret_value() or "-"):
            raise ValueError("only letters, digits and . _ ~ + / = - (a bearer token)")
        return value

    @field_validator("dashboard_idle_timeout")
    @classmethod
    def _idle_timeout(cls, value: int) -> int:
        if 0 < value < 60:
            raise ValueError("dashboard_idle_timeout is 0 (off) or at least 60 seconds")
        return value

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
        if self.restart_backoff_max < self.restart_backoff_initial:
            raise ValueError("restart_backoff_max must be at least restart_backoff_initial")
        if self.queue_unreachable_hold_max < self.queue_unreachable_hold:
            raise ValueError("queue_unreachable_hold_max must be at least queue_unreachable_hold")
        if 0 < self.agent_qualify_frequency <= self.agent_qualify_timeout:
            raise ValueError(
                "agent_qualify_timeout must be shorter than agent_qualify_frequency "
                "(or agent_qualify_frequency 0: off)"
            )
        if self.rtp_port_end <= self.rtp_port_start:
            raise ValueError("rtp_port_end must be greater than rtp_port_start")
        ports = {
            "sip_port": self.sip_port,
            "http_port": self.http_port,
            "crm_port": self.crm_port,
            "ari_url port": self.ari_port,
            "redis_port": self.redis_port,
        }
        if self.asterisks >= 2:
            ports["kamailio_rpc_port"] = self.kamailio_rpc_port
            if self.kamailio_peers:
                ports["kamailio_dmq_port"] = self.kamailio_dmq_port
        if self.dashboard_process:
            if self.live_state != "redis":
                raise ValueError(
                    "dashboard_process needs live_state = redis (the dashboard follows the "
                    "controller's facts there)"
                )
            ports["controller_http_port"] = self.controller_http_port
        if self.queue_legs == "workers" and self.ivr_workers < 1:
            raise ValueError("queue_legs = workers needs ivr_workers >= 1")
        for k in range(1, self.ivr_workers + 1):
            ports[f"IVR worker {k}'s HTTP port"] = self.ivr_worker_http_port(k)
        if (self.redis_tls_cert_file is None) != (self.redis_tls_key_file is None):
            raise ValueError("redis_tls_cert_file and redis_tls_key_file go together")
        seen: dict[int, str] = {}
        for name, port in ports.items():
            if port in seen:
                raise ValueError(f"{name} and {seen[port]} are both {port}")
            seen[port] = name
        for name in (*SECRET_FIELDS, *OPTIONAL_SECRET_FIELDS):
            value: SecretStr = getattr(self, name)
            problem = weak_secret_problem(name, value.get_secret_value())
            if problem is not None:
                raise ValueError(problem)
        return self

    # ------------------------------------------------------------------ derived
    def ivr_worker_http_port(self, k: int) -> int:
        """IVR worker ``k``'s /health and /metrics port (k from 1): the base + k."""
        return self.ivr_worker_http_port_base + k

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
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """`redis_sentinels` as (host, port) pairs; empty: no Sentinel, line311's own Redis."""
        return [sentinel_address(entry) for entry in self.redis_sentinels]

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
    def controller_port(self) -> int:
        """Where the controller's HTTP listens: http_port, or controller_http_port when the
        dashboard runs as its own process (which then owns http_port)."""
        return self.controller_http_port if self.dashboard_process else self.http_port

    @property
    def controller_url(self) -> str:
        """The controller's HTTP base URL, as the dashboard process reaches it."""
        host = self.http_host
        if host in ("0.0.0.0", "", "*"):
            host = "127.0.0.1"
        elif host in ("::", "[::]"):
            host = "[::1]"
        return f"http://{url_host(host)}:{self.controller_port}"

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
        missing = [n for n in SECRET_FIELDS if not getattr(self, n).get_secret_value()]
        if not missing:
            return self
        stored = _load_or_create_secrets(self.secrets_file)
        update: dict[str, Any] = {n: SecretStr(stored[n]) for n in missing}
        return self.model_copy(update=update)


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
