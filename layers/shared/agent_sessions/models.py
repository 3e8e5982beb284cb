"""Request bodies as the 4.8.3 clients send them, validated once at the edge."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from agent_sessions.ids import external_id_problem

MachinePreset = Literal["micro", "small-1x", "small-2x", "medium-1x", "medium-2x", "large-1x", "large-2x"]


class _Body(BaseModel):
    # Validators are built when a body is first validated, not at import: each function's cold
    # start builds only the bodies its routes read (issue 10).
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False, defer_build=True)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LAST = datetime(9999, 12, 30, tzinfo=UTC)


def _utc_in_calendar(value: datetime) -> datetime:
    """An offset date as UTC, naive read as UTC; a date whose UTC form leaves 1970..9999 is refused."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("date is outside the supported range") from None
    if not _EPOCH <= utc <= _LAST:
        raise ValueError("date must be between 1970-01-01 and 9999-12-30 (UTC)")
    return utc


UtcDate = Annotated[datetime, AfterValidator(_utc_in_calendar)]


class TriggerConfig(BaseModel):
    """Persisted verbatim; unknown fields are kept so a newer client's options survive a round trip."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    basePayload: dict[str, Any]
    machine: MachinePreset | None = None
    queue: str | None = Field(default=None, max_length=128)
    concurrency: list[str] | None = Field(default=None, max_length=2)
    concurrencyKey: str | int | float | None = None
    tags: list[str] | None = Field(default=None, max_length=10)
    maxAttempts: int | None = Field(default=None, ge=1, le=10)
    maxDuration: int | None = Field(default=None, gt=0)
    lockToVersion: str | None = None
    externalDeploymentId: str | None = Field(default=None, max_length=128)
    region: str | None = None
    idleTimeoutInSeconds: int | None = Field(default=None, ge=1, le=3600)
    ttl: str | int | None = None

    @field_validator("tags")
    @classmethod
    def _tag_length(cls, tags: list[str] | None) -> list[str] | None:
        if tags and any(len(t) > 128 for t in tags):
            raise ValueError("each tag must be at most 128 characters")
        return tags

    def stored(self) -> dict[str, Any]:
        data = self.model_dump(exclude_none=True)
        if data.get("externalDeploymentId") == "":
            data.pop("externalDeploymentId")
        if "concurrencyKey" in data:
            data["concurrencyKey"] = str(data["concurrencyKey"])
        return data


class CreateSessionBody(_Body):
    type: str = Field(min_length=1, max_length=64)
    externalId: str | None = Field(default=None, min_length=1, max_length=256)
    taskIdentifier: str = Field(min_length=1, max_length=128)
    triggerConfig: TriggerConfig
    tags: list[str] | None = Field(default=None, max_length=10)
    metadata: dict[str, Any] | None = None
    expiresAt: UtcDate | None = None

    @field_validator("externalId")
    @classmethod
    def _external_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        problem = external_id_problem(value)
        if problem is not None:
            raise ValueError(f"externalId {problem}")
        return value


class UpdateSessionBody(_Body):
    model_config = ConfigDict(extra="forbid")

    tags: list[str] | None = Field(default=None, max_length=10)
    metadata: dict[str, Any] | None = None
    externalId: str | None = None


class CloseSessionBody(_Body):
    reason: str | None = Field(default=None, max_length=256)
    callingRunId: str | None = None


class EndAndContinueBody(_Body):
    callingRunId: str = Field(min_length=1)
    reason: str = Field(min_length=1, max_length=64)
    externalDeploymentId: str | None = None


class PublicTokenBody(_Body):
    scopes: list[str] = Field(min_length=1)
    expirationTime: Annotated[str, Field(max_length=64)] | int | float | None = None
    oneTimeUse: bool = False
    realtime: dict[str, Any] | None = None
