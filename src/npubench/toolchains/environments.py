"""Managed virtual environments for toolchains whose pins conflict with npubench's own.

May import ``npubench.errors``, ``npubench.processes`` and ``npubench.sourced``. Each
environment is described as data in ``environments.toml`` (the Python it needs, the pip steps in
order, the import that proves it works, the distribution whose version is the tool's version)
and lives in ``$NPUBENCH_TOOLCHAINS_DIR/<name>`` (default: ``toolchains/`` in npubench's user
data folder). Only the registries' normal clients are used: ``python -m venv`` and ``pip``.

An installed environment holds ``npubench-env.json``: the spec's hash and the versions
installed. ``status()`` is cheap (that file and the interpreter's presence: what ``toolchains
list`` and ``detect()`` use); ``check()`` runs the import (``toolchains doctor``); ``install()``
builds it, and rebuilds a broken or outdated one from scratch (``toolchains install NAME``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from platformdirs import user_data_dir
from pydantic import Field

from npubench import processes
from npubench.errors import EnvironmentProblem, UsageError, closest_names
from npubench.sourced import Strict, parse_sourced

TOOLCHAINS_DIR_ENV = "NPUBENCH_TOOLCHAINS_DIR"
MARKER = "npubench-env.json"
PIP_TIMEOUT_S = 3600
CHECK_TIMEOUT_S = 300


class EnvironmentSpec(Strict):
    """One managed environment, as ``environments.toml`` describes it."""

    name: str
    description: str
    python: str = "3.11"  # the interpreter version; "self" = npubench's own interpreter
    steps: list[list[str]] = Field(min_length=1)  # pip install argument lists, in order
    check: str  # Python code that must run without error in the environment
    version_of: str  # the distribution whose version is the tool's version
    versions_of: list[str] = Field(default_factory=list)  # more distributions to record
    approx: str = ""  # what an install costs, e.g. "about 140 s and 1.5 GB"

    @property
    def digest(self) -> str:
        """What decides the installed content (the interpreter and the pip steps): a change
        here means the environment must be rebuilt; a new description or check does not."""
        key = json.dumps({"python": self.python, "steps": self.steps}, sort_keys=True)
        return hashlib.sha256(key.encode()).hexdigest()[:16]


class _SpecFile(Strict):
    environments: dict[str, EnvironmentSpec]


@cache
def _specs() -> dict[str, EnvironmentSpec]:
    path = resources.files("npubench.toolchains") / "environments.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    for name, table in data.get("environments", {}).items():
        table.setdefault("name", name)
    return parse_sourced(_SpecFile, data, "environments.toml", EnvironmentProblem).environments


def environment_names() -> list[str]:
    return sorted(_specs())


def toolchains_dir() -> Path:
    return Path(
        os.environ.get(TOOLCHAINS_DIR_ENV) or Path(user_data_dir("npubench")) / "toolchains"
    )


@dataclass(frozen=True)
class EnvStatus:
    installed: bool
    healthy: bool  # the marker matches the spec and the interpreter exists (cheap check)
    version: str | None
    problem: str = ""
    versions: dict[str, str] | None = None


@dataclass(frozen=True)
class ManagedEnvironment:
    spec: EnvironmentSpec

    @property
    def path(self) -> Path:
        return toolchains_dir() / self.spec.name

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def install_command(self) -> str:
        return f"npubench toolchains install {self.spec.name}"

    def _marker(self) -> dict[str, object] | None:
        try:
            data = json.loads((self.path / MARKER).read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def status(self) -> EnvStatus:
        marker = self._marker()
        if marker is None:
            if self.path.exists():
                return EnvStatus(True, False, None, f"{self.path} has no {MARKER} (incomplete)")
            return EnvStatus(False, False, None, f"not installed ({self.path})")
        versions = marker.get("versions")
        version = versions.get(self.spec.version_of) if isinstance(versions, dict) else None
        if marker.get("spec") != self.spec.digest:
            return EnvStatus(True, False, version, "installed from an older spec: reinstall")
        if not self.python.exists():
            return EnvStatus(True, False, version, f"{self.python} is missing")
        return EnvStatus(True, True, version, "", versions if isinstance(versions, dict) else None)

    def check(self) -> EnvStatus:
        """``status()`` plus the import check run inside the environment (slow: seconds)."""
        status = self.status()
        if not status.healthy:
            return status
        try:
            done = processes.run(
                [str(self.python), "-c", self.spec.check], text=True, timeout=CHECK_TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            return EnvStatus(True, False, status.version, "the import check timed out")
        except OSError as e:
            return EnvStatus(True, False, status.version, f"cannot run {self.python}: {e}")
        if done.returncode != 0:
            tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            return EnvStatus(True, False, status.version, f"the import check failed: {tail}")
        return status

    def _base_python(self) -> str:
        if self.spec.python in ("self", f"{sys.version_info[0]}.{sys.version_info[1]}"):
            return sys.executable
        found = shutil.which(f"python{self.spec.python}")
        if found is None:
            raise EnvironmentProblem(
                f"environment {self.spec.name} needs Python {self.spec.python}, which is not on "
                "PATH",
                f"install python{self.spec.python}",
            )
        return found

    def install(self, progress: Callable[[str], None] = lambda _: None) -> EnvStatus:
        """Create (or re-create, when broken or outdated) the environment and check it."""
        current = self.check()
        if current.healthy:
            progress(f"{self.spec.name}: already installed and working ({self.path})")
            return current
        if self.path.exists():
            progress(f"{self.spec.name}: {current.problem}; rebuilding {self.path}")
            shutil.rmtree(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        progress(f"{self.spec.name}: creating {self.path} ({self.spec.approx})")
        self._run([self._base_python(), "-m", "venv", str(self.path)], "creating the venv")
        for step in self.spec.steps:
            progress(f"{self.spec.name}: pip install {' '.join(step)}")
            self._run([str(self.python), "-m", "pip", "install", "-q", *step], "pip install")
        versions = self._installed_versions()
        (self.path / MARKER).write_text(
            json.dumps({"spec": self.spec.digest, "versions": versions}, indent=2)
        )
        done = self.check()
        if not done.healthy:
            raise EnvironmentProblem(
                f"environment {self.spec.name} was installed but does not work: {done.problem}",
                f"run `{self.install_command}` again; if it persists, report it",
            )
        return done

    def _installed_versions(self) -> dict[str, str]:
        names = [self.spec.version_of, *self.spec.versions_of]
        code = (
            "import json, importlib.metadata as m\n"
            f"names = {names!r}\n"
            "out = {}\n"
            "for n in names:\n"
            "    try: out[n] = m.version(n)\n"
            "    except m.PackageNotFoundError: pass\n"
            "print(json.dumps(out))\n"
        )
        done = processes.run([str(self.python), "-c", code], text=True, timeout=CHECK_TIMEOUT_S)
        try:
            versions = json.loads(done.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            versions = {}
        return {str(k): str(v) for k, v in versions.items()}

    def _run(self, cmd: list[str], what: str) -> None:
        try:
            done = processes.run(cmd, text=True, timeout=PIP_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            raise EnvironmentProblem(
                f"{self.spec.name}: {what} took over {PIP_TIMEOUT_S} s", "check the network"
            ) from e
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
            raise EnvironmentProblem(
                f"{self.spec.name}: {what} failed (exit {done.returncode}):\n{tail}",
                f"fix the cause above and run `{self.install_command}` again",
            )


def get_environment(name: str) -> ManagedEnvironment:
    specs = _specs()
    if name not in specs:
        near = closest_names(name, list(specs))
        raise UsageError(
            f"unknown toolchain environment {name!r}",
            f"did you mean {', '.join(near)}?" if near else f"use one of {', '.join(specs)}",
        )
    return ManagedEnvironment(specs[name])
