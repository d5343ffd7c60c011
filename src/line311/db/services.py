"""The service catalogue: what a caller (or an Open311 client) can file a request about.

Each `Service` is an Open311 service with its agency and its attribute definitions (the
questions a CCR or a form asks: "Where is the noise coming from?"). `ServiceCatalogue.seed`
inserts the services that are missing and leaves edited ones alone, so it can run at every
start-up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from line311.db.errors import DbUnavailable
from line311.db.models import ServiceRow

__all__ = ["AttributeValue", "Datatype", "Service", "ServiceAttribute", "ServiceCatalogue"]

Datatype = Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
DATATYPES: frozenset[str] = frozenset(
    {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}
)


@dataclass(frozen=True, slots=True)
class AttributeValue:
    key: str
    name: str


@dataclass(frozen=True, slots=True)
class ServiceAttribute:
    """An Open311 attribute definition."""

    code: str
    description: str
    datatype: Datatype = "string"
    required: bool = False
    order: int = 1
    variable: bool = True
    datatype_description: str = ""
    values: tuple[AttributeValue, ...] = ()

    def __post_init__(self) -> None:
        if self.datatype not in DATATYPES:
            raise ValueError(f"attribute {self.code}: unknown datatype {self.datatype!r}")
        is_list = self.datatype in ("singlevaluelist", "multivaluelist")
        if is_list != bool(self.values):
            raise ValueError(f"attribute {self.code}: values go with list datatypes only")

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "description": self.description,
            "datatype": self.datatype,
            "required": self.required,
            "order": self.order,
            "variable": self.variable,
            "datatype_description": self.datatype_description,
            "values": [{"key": v.key, "name": v.name} for v in self.values],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServiceAttribute:
        return cls(
            code=data["code"],
            description=data["description"],
            datatype=data["datatype"],
            required=bool(data["required"]),
            order=int(data["order"]),
            variable=bool(data["variable"]),
            datatype_description=data.get("datatype_description", ""),
            values=tuple(AttributeValue(v["key"], v["name"]) for v in data.get("values", [])),
        )


@dataclass(frozen=True, slots=True)
class Service:
    """One service of the catalogue (Open311 ``service``)."""

    service_code: str
    service_name: str
    description: str
    agency: str
    group: str
    keywords: tuple[str, ...] = ()
    type: Literal["realtime", "batch", "blackbox"] = "realtime"
    service_notice: str = ""
    expected_days: int | None = None
    attributes: tuple[ServiceAttribute, ...] = field(default=())
    active: bool = True

    @property
    def metadata(self) -> bool:
        """Open311: true when the service has attribute definitions."""
        return bool(self.attributes)

    def attribute(self, code: str) -> ServiceAttribute | None:
        return next((a for a in self.attributes if a.code == code), None)


def _to_service(row: ServiceRow) -> Service:
    attrs = sorted(
        (ServiceAttribute.from_dict(a) for a in row.attributes or []), key=lambda a: a.order
    )
    return Service(
        service_code=row.service_code,
        service_name=row.service_name,
        description=row.description,
        agency=row.agency,
        group=row.group_name,
        keywords=tuple(k for k in row.keywords.split(",") if k),
        type=row.type,  # type: ignore[arg-type]
        service_notice=row.service_notice,
        expected_days=row.expected_days,
        attributes=tuple(attrs),
        active=row.active,
    )


def _to_row(service: Service) -> ServiceRow:
    return ServiceRow(
        service_code=service.service_code,
        service_name=service.service_name,
        description=service.description,
        agency=service.agency,
        group_name=service.group,
        keywords=",".join(service.keywords),
        type=service.type,
        service_notice=service.service_notice,
        expected_days=service.expected_days,
        attributes=[a.to_dict() for a in service.attributes],
        active=service.active,
    )


class ServiceCatalogue:
    """Reads the catalogue and seeds it."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def list(self, *, include_inactive: bool = False) -> list[Service]:
        """Services ordered by group, then name."""
        query = select(ServiceRow).order_by(ServiceRow.group_name, ServiceRow.service_name)
        if not include_inactive:
            query = query.where(ServiceRow.active.is_(True))
        try:
            with self._sessions() as session:
                return [_to_service(r) for r in session.scalars(query)]
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"reading the service catalogue failed: {exc}") from None

    def get(self, service_code: str) -> Service | None:
        try:
            with self._sessions() as session:
                row = session.get(ServiceRow, service_code)
                return None if row is None else _to_service(row)
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"reading service {service_code!r} failed: {exc}") from None

    def seed(self, services: Iterable[Service]) -> int:
        """Insert the services whose code is not stored yet; return how many were added."""
        wanted = {s.service_code: s for s in services}
        try:
            with self._sessions.begin() as session:
                present = set(
                    session.scalars(
                        select(ServiceRow.service_code).where(
                            ServiceRow.service_code.in_(list(wanted))
                        )
                    )
                )
                missing = [s for code, s in wanted.items() if code not in present]
                session.add_all(_to_row(s) for s in missing)
        except SQLAlchemyError as exc:
            raise DbUnavailable(f"seeding the service catalogue failed: {exc}") from None
        return len(missing)
