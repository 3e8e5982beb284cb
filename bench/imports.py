"""Cold import of every Lambda handler, each in a fresh interpreter, with only what Lambda has.

The development virtualenv holds packages the deployed layer does not (moto, the SAM CLI and what
they pull in: awscrt, pyOpenSSL, cryptography, ...), and botocore, urllib3 and PyJWT import some of
them when present (awscrt alone is a few hundred milliseconds). Each measurement therefore runs with
an import hook that refuses every top-level module of a distribution outside the layer's closure:
`layers/shared/requirements.txt` plus boto3 (the Lambda runtime's own), followed through their
requirements and extras.

`handler_imports` imports from the layer as `layers/shared/Makefile` ships it (`built_layer`): the
layer's files, compiled to bytecode the way the Makefile compiles them. Lambda mounts a layer
read-only, so whatever the layer ships uncompiled is compiled again at every cold start; measuring
from the working tree would count bytecode the deployed layer may not have (pip's, in site-packages)
or compile what it does have (our package, when PYTHONDONTWRITEBYTECODE is set).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution, packages_distributions
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LAYER_REQUIREMENTS = ROOT / "layers" / "shared" / "requirements.txt"
RUNTIME_PROVIDED = ("boto3",)
"""Distributions the Lambda Python runtime ships (the layer does not bundle them)."""
ALWAYS = ("agent-sessions", "setuptools")
"""This project (the layer's own code) and what `site` loads before the clock starts."""


def layer_distributions() -> set[str]:
    """Canonical names of every distribution the deployed layer (and runtime) can import."""
    lines = [line.split("#")[0].strip() for line in LAYER_REQUIREMENTS.read_text().splitlines()]
    todo = [Requirement(line) for line in lines if line] + [Requirement(r) for r in RUNTIME_PROVIDED]
    seen: set[tuple[str, frozenset[str]]] = set()
    names: set[str] = set()
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        names.add(name)
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            continue
        extras = set(requirement.extras) or {""}
        for spec in requires:
            nested = Requirement(spec)
            if nested.marker is None or any(nested.marker.evaluate({"extra": e}) for e in extras):
                todo.append(nested)
    return names


def outside_layer() -> list[str]:
    """Top-level modules installed here that only distributions outside the layer provide."""
    allowed = layer_distributions() | set(ALWAYS)
    return sorted(
        module
        for module, dists in packages_distributions().items()
        if not any(canonicalize_name(d) in allowed for d in dists)
    )


_CHILD = """
import sys, time
blocked = set(sys.argv[2].split(","))
class Refuse:
    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {fullname!r} (not in the layer)", name=fullname)
sys.meta_path.insert(0, Refuse())
started, cpu = time.perf_counter(), time.process_time()
import importlib.util
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
print(repr(seconds), repr(cpu)); print(" ".join(sorted(sys.modules)))
prepare = getattr(getattr(module, "handler", None), "prepare", None)
started, cpu = time.perf_counter(), time.process_time()
if prepare is not None:
    prepare()
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
print(repr(seconds), repr(cpu)); print(" ".join(sorted(sys.modules)))
"""
"""The measured interpreter: nothing imported before the clock starts but what `-c` needs. After
the import it times the handler's `prepare()` (lambda_entry.LazyHandler): what the first invocation
loads before it handles its event (the Function URL app has none: uvicorn builds it at import)."""


@dataclass(frozen=True)
class ColdStart:
    """One handler's cold start, each figure the least of its samples, in milliseconds."""

    import_ms: float
    import_cpu_ms: float
    prepare_ms: float
    """What the first invocation adds before its event: `LazyHandler.prepare()` (0 for out_stream)."""
    prepare_cpu_ms: float
    modules: list[str]
    """Modules loaded by the import alone."""
    first_call_modules: list[str]
    """Modules loaded once the first invocation is prepared (import + `prepare()`)."""


def built_layer(target: Path) -> Path:
    """Assemble the layer in `target` from this virtualenv as the Makefile builds it: every file
    of the layer's distributions (what its `pip install -r requirements.txt` installs), our
    package, and `make bytecode` over them for this interpreter. Returns `target`."""
    ours = {"agent-sessions", "setuptools"}
    for name in sorted(layer_distributions() - ours):
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue
        for file in dist.files or []:
            path = str(file)
            if path.startswith("..") or "__pycache__" in path or path.endswith(".pyc"):
                continue
            source = Path(str(dist.locate_file(file)))
            if source.is_file():
                (target / path).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target / path)
    shutil.copytree(
        ROOT / "layers" / "shared" / "agent_sessions",
        target / "agent_sessions",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    subprocess.run(
        [
            "make",
            "-s",
            "-C",
            str(LAYER_REQUIREMENTS.parent),
            "bytecode",
            f"DIR={target}",
            f"PYTHON={sys.executable}",
        ],
        check=True,
        capture_output=True,
    )
    return target


def cold_start(app: Path, samples: int = 3, layer: Path | None = None) -> ColdStart:
    """The import of `app` and its first invocation's preparation, each in `samples` fresh
    interpreters (on a loaded machine the CPU time is the steadier figure).

    The environment is Lambda's as far as the handlers look at it: Powertools' tracer is on
    (`Tracing: Active` in template.yaml), so the X-Ray SDK's import is counted; the environment
    is initialized on demand (no `AWS_LAMBDA_INITIALIZATION_TYPE` of provisioned concurrency).
    `layer`: where the layer's modules are imported from (`built_layer`); the source tree if None.
    """
    blocked = ",".join(outside_layer())
    env = {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": app.parent.name,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "LAMBDA_TASK_ROOT": str(app.parent),
        "PYTHONPATH": str(layer or ROOT / "layers" / "shared"),
    }
    env.pop("POWERTOOLS_TRACE_DISABLED", None)
    figures: list[tuple[float, float, float, float]] = []
    modules: list[str] = []
    first_call: list[str] = []
    for _ in range(samples):
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(app.resolve()), blocked],
            capture_output=True,
            text=True,
            check=True,
            cwd=app.parent,
            env=env,
        )
        imported, modules_line, prepared, first_call_line = out.stdout.strip().splitlines()[-4:]
        wall, used = (float(x) for x in imported.split())
        prepare_wall, prepare_used = (float(x) for x in prepared.split())
        figures.append((wall, used, prepare_wall, prepare_used))
        modules, first_call = modules_line.split(), first_call_line.split()
    least = [round(min(f[i] for f in figures) * 1000, 1) for i in range(4)]
    return ColdStart(*least, modules=modules, first_call_modules=first_call)


def measure(app: Path, samples: int = 3) -> tuple[float, float, list[str]]:
    """Milliseconds of wall and of CPU time of the import alone and the modules it loaded."""
    measured = cold_start(app, samples)
    return measured.import_ms, measured.import_cpu_ms, measured.modules


def handler_imports(samples: int = 3) -> dict[str, Any]:
    """`{handler: ms}` of the import of every function in functions/, what its first invocation
    adds (`prepare_ms`) and their sum, and whether the append and out-stream paths loaded any agent
    or model code once prepared (`agent_sessions.agent`: they must not)."""
    results: dict[str, Any] = {}
    cpu: dict[str, float] = {}
    prepare: dict[str, float] = {}
    prepare_cpu: dict[str, float] = {}
    total: dict[str, float] = {}
    total_cpu: dict[str, float] = {}
    agent_code: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="layer-") as tmp:
        layer = built_layer(Path(tmp))
        measured_all = {
            f.name: cold_start(f / "app.py", samples, layer) for f in sorted((ROOT / "functions").iterdir())
        }
    for name, measured in measured_all.items():
        results[name] = measured.import_ms
        cpu[name] = measured.import_cpu_ms
        prepare[name] = measured.prepare_ms
        prepare_cpu[name] = measured.prepare_cpu_ms
        total[name] = round(measured.import_ms + measured.prepare_ms, 1)
        total_cpu[name] = round(measured.import_cpu_ms + measured.prepare_cpu_ms, 1)
        if name in ("append", "out_stream"):
            agent_code[name] = [
                m for m in measured.first_call_modules if m.startswith("agent_sessions.agent.")
            ]
    return {
        "ms": results,
        "cpu_ms": cpu,
        "first_call_prepare_ms": prepare,
        "first_call_prepare_cpu_ms": prepare_cpu,
        "import_plus_first_call_ms": total,
        "import_plus_first_call_cpu_ms": total_cpu,
        "agent_code_on_append_and_out_stream": agent_code,
        "not_in_layer_refused": len(outside_layer()),
        "note": "each a fresh interpreter, fastest of "
        f"{samples}; imported from the layer as layers/shared/Makefile builds it (bytecode included); "
        "modules of distributions outside the Lambda layer refused; tracer on; "
        "ms is the import alone (what Lambda's init runs on demand), first_call_prepare_ms what the "
        "first invocation then loads before handling its event (lambda_entry.LazyHandler)",
    }
