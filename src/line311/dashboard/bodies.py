"""The base of every JSON body the dashboard's APIs take."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from line311.text import UnsafeText, find_unsafe

__all__ = ["MAX_REASON", "SafeBody"]

MAX_REASON = 64
"""Longest pause reason a CCR's pause takes, from the wallboard or the desk API (it is
stored with every event of the pause and shown on the wallboard)."""


class SafeBody(BaseModel):
    """No unknown fields, and every string and key is safe text: a NUL or another control
    character is a 422 naming the field (PostgreSQL refuses a NUL, which would be a 503)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _safe_text(cls, data: Any) -> Any:
        try:
            find_unsafe(data)
        except UnsafeText as exc:
            raise ValueError(str(exc)) from None
        return data
