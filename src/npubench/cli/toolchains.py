"""`npubench toolchains list | install NAME|all | doctor [NAME]`."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from npubench.cli.common import console, err_console, print_json
from npubench.errors import EnvironmentProblem, ExitStatus, UsageError
from npubench.targets import all_targets
from npubench.toolchains import all_toolchains, get_toolchain
from npubench.toolchains.base import Toolchain
from npubench.toolchains.environments import environment_names, get_environment


def _targets_of(toolchain: Toolchain) -> list[str]:
    return sorted(b.name for b in all_targets().values() if toolchain.name in b.toolchain_names())


def toolchain_rows() -> list[dict[str, Any]]:
    return [t.detect().to_json(_targets_of(t)) for t in all_toolchains()]


def list_command(json_out: bool) -> int:
    rows = toolchain_rows()
    if json_out:
        print_json(rows)
        return ExitStatus.OK
    table = Table(title="npubench toolchains")
    for column in ("name", "tool", "version", "available", "targets", "environment or install"):
        table.add_column(column, overflow="fold")
    for r in rows:
        targets = r["targets"]
        shown = ", ".join(targets[:4]) + (f" (+{len(targets) - 4})" if len(targets) > 4 else "")
        table.add_row(
            r["name"],
            r["tool"],
            r["version"] or "–",
            "yes" if r["available"] else "no",
            shown or "–",
            r["environment"] if r["available"] else (r["install"] or r["detail"]),
        )
    console.print(table)
    available = sum(1 for r in rows if r["available"])
    console.print(f"{available} of {len(rows)} toolchains available here")
    return ExitStatus.OK


def _environments_for(names: list[str]) -> list[str]:
    if names == ["all"]:
        return environment_names()
    envs: list[str] = []
    for name in names:
        if name in environment_names():
            envs.append(name)
            continue
        toolchain = get_toolchain(name)  # an unknown name is a usage error with suggestions
        if toolchain.environment is None:
            raise UsageError(
                f"{name} has no environment npubench manages",
                toolchain.detect().install or "see `npubench toolchains list`",
            )
        envs.append(toolchain.environment)
    return list(dict.fromkeys(envs))


def install_command(names: list[str]) -> int:
    """Create (or repair) the managed environment of each toolchain named."""
    if not names:
        raise UsageError("name a toolchain to install, or `all`", "see `npubench toolchains list`")
    for env_name in _environments_for(names):
        env = get_environment(env_name)
        status = env.install(lambda message: err_console.print(message))
        err_console.print(f"{env_name}: ready ({status.version}) in {env.path}")
    return ExitStatus.OK


def doctor_command(names: list[str], json_out: bool) -> int:
    """Check each managed environment for real (the import runs); 3 when one is broken."""
    envs = _environments_for(names) if names else environment_names()
    rows = []
    for env_name in envs:
        env = get_environment(env_name)
        status = env.check()
        rows.append(
            {
                "environment": env_name,
                "path": str(env.path),
                "installed": status.installed,
                "healthy": status.healthy,
                "version": status.version,
                "problem": status.problem,
                "repair": None if status.healthy else env.install_command,
            }
        )
    if json_out:
        print_json(rows)
    else:
        for r in rows:
            state = "ok" if r["healthy"] else f"{r['problem']} -> run `{r['repair']}`"
            console.print(f"{r['environment']}: {state} ({r['path']})")
    broken = [r for r in rows if not r["healthy"]]
    if broken:
        raise EnvironmentProblem(
            f"{len(broken)} toolchain environment(s) not working: "
            + ", ".join(r["environment"] for r in broken),
            "; ".join(str(r["repair"]) for r in broken),
        )
    return ExitStatus.OK
