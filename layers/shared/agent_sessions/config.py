"""Settings read once from the environment.

Every knob lives here so the handlers, the local stack and the tests agree on one object; the
local stack and tests override fields through environment variables, never by patching modules.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AGENT_SESSIONS_", extra="ignore")

    region: str = Field(default="us-east-1", validation_alias="AWS_REGION")
    dynamodb_url: str | None = None
    """Endpoint of a DynamoDB-compatible server (local stack); None means real DynamoDB."""

    sessions_table: str = "agent-sessions-sessions"
    runs_table: str = "agent-sessions-runs"
    streams_table: str = "agent-sessions-streams"

    state_machine_arn: str | None = None
    launcher: str = "stepfunctions"
    """`stepfunctions` on AWS, `local` for the in-process launcher of the local stack."""

    secret_key: str | None = None
    """Root secret key of the single local environment (local stack only)."""
    environment_id: str = "env_local"
    keys_secret_name: str | None = None
    """Secrets Manager secret holding `{"environments":[{"id","secretKey"},...]}` on AWS."""
    keys_cache_seconds: int = 300

    allowed_origins: str = "*"
    """CORS: `*` or comma-separated exact origins (template parameter `AllowedOrigin`)."""
    max_body_bytes: int = 1024 * 1024
    max_record_bytes: int = 1024 * 1024
    max_create_body_bytes: int = 32 * 1024
    read_max_bytes: int = 1024 * 1024
    """UTF-8 bytes of records in one records-endpoint response and in one SSE batch frame; a single
    record larger than this is sent alone (as S2 caps one read at 1 MiB)."""
    read_max_records: int = 1000
    """Records in one records-endpoint response (S2's per-read count cap)."""
    list_max_examined: int = 500
    """Sessions `GET /api/v1/sessions` reads per request (Query calls of at most 100); a filter
    that matches nothing answers a short page with a cursor instead of walking the environment."""
    sse_default_timeout_seconds: int = 60
    sse_max_timeout_seconds: int = 600
    sse_ping_seconds: float = 5.0
    sse_poll_min_seconds: float = 0.02
    sse_poll_max_seconds: float = 1.0
    sse_poll_hot_seconds: float = 2.0
    """An SSE reader polls at the minimum for this long after it opens or last found records (a
    reader opened right after a send waits for the first token), then backs off to the max."""
    push_in_process: bool = False
    """Every writer and reader of the logs runs in this process (the local stack sets it): pollers
    wake on `notify`'s in-process notification of each append and otherwise read only every
    `push_safety_poll_seconds`, instead of the hot schedules below. Off on AWS, where the append,
    the run and the SSE readers are separate Lambda processes."""
    push_safety_poll_seconds: float = 5.0
    """With `push_in_process`, how often a poller reads anyway: it finds what was written around
    the notifications (a script writing through the store from another process) this late at
    worst. Every idle run and open reader costs a read per interval, which at 50 local chats is
    what the one-request-at-a-time embedded DynamoDB serves first."""
    input_poll_seconds: float = 0.05
    """The agent's `.in` poll interval while hot: from the start of each wait for input."""
    input_poll_hot_seconds: float = 10.0
    """How long the agent's wait stays hot before backing off to `sse_poll_max_seconds`; each
    poll is one strongly consistent read (priced in bench/cost.py against the warm GB-seconds)."""
    out_coalesce_window_seconds: float = 0.5
    """The longest a `.out` page waits for more records after the last write (a long reply's
    steady state; `bench/cost.py`: a page is a transaction, its head update alone 2 write units)."""
    out_coalesce_first_seconds: float = 0.025
    """The coalescing window of a burst's second page; it doubles per page up to the window."""
    part_id_ttl_seconds: int = 24 * 3600
    out_retention_seconds: int = Field(default=3600, ge=0)
    """`.out` records younger than this are never trimmed (template parameter `OutRetentionSeconds`);
    older whole turns go after a later turn-complete, the newest complete turn always stays. 0 keeps
    about one turn, as the reference does (see retention.py)."""
    session_token_ttl_seconds: int = 3600
    run_suspend_timeout_seconds: int = 3600
    """Must match the state machine's WaitForInput `TimeoutSeconds`."""
    idle_timeout_default_seconds: int = Field(default=30, ge=1)
    """Warm wait after a turn when the session's triggerConfig sets none."""
    idle_timeout_max_seconds: int = Field(default=3600, ge=1)
    """Cap on `triggerConfig.idleTimeoutInSeconds` (what a session may ask is clamped to 1..this)."""
    max_attempts_limit: int = Field(default=3, ge=1)
    """Cap on `triggerConfig.maxAttempts` (attempts per run, each up to one Lambda invocation chain)."""
    run_lease_seconds: float = 30.0
    """Lease of an EXECUTING run; the worker's heartbeat renews it every third of this."""
    run_launch_grace_seconds: float = 60.0
    """Lease of a QUEUED run: how long a claimed run may take to start before it is judged dead."""
    run_suspend_margin_seconds: float = 120.0
    """A WAITING run's lease is its park time + the suspend timeout + this."""
    run_lease_leeway_seconds: float = 5.0
    """Clock skew allowed when judging a lease expired."""
    recovery_sweep_seconds: float = 5.0
    """Interval of the local stack's recovery sweep (on AWS, the schedule in template.yaml)."""
    task_identifiers: list[str] = []
    """Task ids sessions may name (session create answers 422 for others); empty: not checked."""
    check_tasks: bool = False
    """Check task ids against the agents this process loads (the local stack)."""
    worker_deadline_margin_ms: int = 60_000
    agent_modules: list[str] = []
    """Modules imported by the worker so their `@agent(...)` registrations exist."""

    # ---------------------------------------------------------------- limits (docs/operations.md)
    rate_window_seconds: int = Field(default=60, ge=1)
    """Length of the fixed windows every rate limit counts in."""
    append_rate_limit: int = Field(default=600, ge=0)
    """`.in/append` requests per session per window (0: unlimited)."""
    create_rate_limit: int = Field(default=6000, ge=0)
    """Session creates per environment per window (0: unlimited, and no counter write)."""
    token_rate_limit: int = Field(default=6000, ge=0)
    """Token mints (`/api/v1/auth/*`) per environment per window (0: unlimited, no counter write)."""
    turns_per_day: int = Field(default=2000, ge=0)
    """Turns one session may start per UTC day (0: unlimited); checked when a turn starts."""
    tokens_per_day: int = Field(default=20_000_000, ge=0)
    """Model tokens (input + output, as the adapters report them) one session may use per UTC day
    (0: unlimited); checked when a turn starts and before every model call of `stream_text`."""
    run_max_seconds_without_input: int = Field(default=7200, ge=0)
    """An executing run whose last input is older than this is ended by its own heartbeat (its
    open turn closed with an error naming the limit); 0: never. A parked run is bounded by
    `run_suspend_timeout_seconds` instead."""
    live_runs_limit: int = Field(default=1000, ge=0)
    """Runs of one environment that may be live (not final) at once; checked only when a request
    would start a run (session create, an append to a session whose run ended), never on an append
    to a live run (0: unlimited, no check)."""
    live_runs_retry_seconds: int = Field(default=5, ge=1)
    """What `x-ratelimit-reset` tells a request refused by `live_runs_limit` to wait."""
    env_limits: dict[str, dict[str, int]] = {}
    """Per-environment overrides of the limits above, by environment id and field name without
    the `_limit` suffix (`{"env_prod": {"append_rate": 120}}`); JSON in `AGENT_SESSIONS_ENV_LIMITS`."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Drop the cached settings (tests and the local stack change the environment first)."""
    get_settings.cache_clear()
