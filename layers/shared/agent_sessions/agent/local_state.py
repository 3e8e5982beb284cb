"""`chat.local`: run-local state, declared once at module level and reached from hooks, `run` and tools.

    user = chat.local("userContext")

    @chat.agent(id="my-chat", on_boot=lambda e: user.init({"name": "Ann", "plan": "pro"}))
    def run(turn):
        user.count = user.get().get("count", 0) + 1   # sets the dirty flag
        yield f"hello {user.name}"

Values live in the running chat's `RunLocals` (found through the runtime's context variable), so
each run has its own copy and a new run (continuation, upgrade, retry) starts empty: initialise in
`on_boot`, which fires on every fresh run. Unlike the reference's process memory, a run here can
suspend and resume in another process; the runtime saves JSON-serialisable locals with the chat's
history when the run suspends (or hands over near its deadline) and restores them, for the same
run only, when it resumes. `has_changed()` is the reference's dirty tracking: set by `init` and by
every attribute or item assignment (shallow, like the reference's proxy), cleared when read.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from agent_sessions.observability import logger


class LocalNotInitialized(RuntimeError):
    """A `chat.local` was read or written before `init` in this run."""


class RunLocals:
    """One run's values of every `chat.local`, keyed by local id."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.values: dict[str, dict[str, Any]] = {}
        self.dirty: set[str] = set()
        self._lock = threading.Lock()

    def state(self) -> dict[str, Any]:
        """JSON to save across a suspend: `{run, values}`; locals that are not JSON are left out."""
        with self._lock:
            values = dict(self.values)
        kept: dict[str, Any] = {}
        for key, value in values.items():
            try:
                kept[key] = json.loads(json.dumps(value))
            except (TypeError, ValueError):
                logger.warning("chat.local not JSON-serialisable; not kept across suspend", extra={"id": key})
        return {"run": self.run_id, "values": kept} if kept else {}

    @classmethod
    def from_state(cls, run_id: str, state: Any) -> RunLocals:
        """This run's saved locals (a state saved by another run is ignored: locals are per run)."""
        locals_ = cls(run_id)
        if isinstance(state, dict) and state.get("run") == run_id and isinstance(state.get("values"), dict):
            locals_.values = {k: dict(v) for k, v in state["values"].items() if isinstance(v, dict)}
        return locals_


class Local:
    """A typed-by-convention, run-scoped dict with attribute access (`chat.local(id)`)."""

    def __init__(self, id: str, resolve: Callable[[], RunLocals]) -> None:
        object.__setattr__(self, "_id", id)
        object.__setattr__(self, "_resolve", resolve)

    def init(self, value: dict[str, Any]) -> None:
        """Set this run's value (a dict); marks it changed."""
        run = self._resolve()
        with run._lock:
            run.values[self._id] = dict(value)
            run.dirty.add(self._id)

    def get(self) -> dict[str, Any]:
        """A plain copy of the value (for serialising)."""
        return dict(self._values())

    def has_changed(self) -> bool:
        """True if anything was set since the last call (which clears the flag)."""
        run = self._resolve()
        with run._lock:
            changed = self._id in run.dirty
            run.dirty.discard(self._id)
        return changed

    @property
    def initialized(self) -> bool:
        return self._id in self._resolve().values

    def _values(self) -> dict[str, Any]:
        run = self._resolve()
        if self._id not in run.values:
            raise LocalNotInitialized(
                f"chat.local {self._id!r} is used before init() in this run; initialise it in on_boot"
            )
        return run.values[self._id]

    def _set(self, key: str, value: Any) -> None:
        run = self._resolve()
        with run._lock:
            self._values()[key] = value
            run.dirty.add(self._id)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self._values()[key]
        except KeyError:
            raise AttributeError(key) from None

    def __setattr__(self, key: str, value: Any) -> None:
        self._set(key, value)

    def __getitem__(self, key: str) -> Any:
        return self._values()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._set(key, value)
