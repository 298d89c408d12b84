"""The ``fleetpulse-dr`` command: list and run the recovery scenarios, or serve the chat bridge.

    fleetpulse-dr list
    fleetpulse-dr run status --env production
    fleetpulse-dr run recover-database --env staging --confirm staging -e db_restore_backup=latest
    fleetpulse-dr bridge --config /etc/fleetpulse-dr/bridge.yml
    fleetpulse-dr audit-verify /var/log/fleetpulse-dr/audit.jsonl

Exit status: 0 when the scenario succeeded; ansible-playbook's return code when it failed
(2 a task failed, 4 a host was unreachable, ...; 1 when the runner failed without one);
64 when the command was refused before anything ran (unknown scenario, missing
confirmation, bad argument).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from fleetpulse_dr import __version__
from fleetpulse_dr.runner import Progress, RunOptions, format_duration, run_scenario
from fleetpulse_dr.scenarios import ParamError, Project, RegistryError, Scenario

EX_USAGE = 64


class Refused(Exception):
    """The command cannot go ahead; the message says why and what to do."""


def parse_extravars(items: list[str]) -> dict[str, Any]:
    """``-e`` values as ansible-playbook takes them: key=value pairs (strings), @file (YAML/JSON), or JSON."""
    out: dict[str, Any] = {}
    for raw in items:
        item = raw.strip()
        if item.startswith("@"):
            path = Path(item[1:])
            try:
                data = yaml.safe_load(path.read_text())
            except (OSError, yaml.YAMLError) as exc:
                raise Refused(f"cannot read extra vars from {path}: {exc}") from None
            if not isinstance(data, dict):
                raise Refused(f"{path} must hold a mapping of variables")
            out.update(data)
        elif item.startswith("{"):
            try:
                data = json.loads(item)
            except json.JSONDecodeError as exc:
                raise Refused(f"-e {item!r} is not valid JSON: {exc}") from None
            out.update(data)
        else:
            for pair in item.split():
                key, sep, value = pair.partition("=")
                if not sep or not key:
                    raise Refused(f"-e {pair!r}: expected key=value, @file or a JSON object")
                out[key] = value
    return out


def check_confirmation(scenario: Scenario, extravars: dict[str, Any], confirm: str | None,
                       environment: str | None) -> dict[str, Any]:
    """Destructive scenarios run only with an explicit confirmation naming the target environment."""
    if not scenario.destructive:
        return extravars
    given = confirm if confirm is not None else (extravars.get(scenario.confirm_var) if scenario.confirm_var else None)
    if not given:
        var = f" (sets {scenario.confirm_var}=ENV, which the playbook checks)" if scenario.confirm_var else ""
        raise Refused(f"{scenario.name} is destructive: check the target, then run again with "
                      f"--confirm ENV naming the target environment{var}")
    if environment and str(given) != environment:
        raise Refused(f"--confirm {given} does not name the target environment {environment}: "
                      "nothing was run")
    if scenario.confirm_var:
        return {**extravars, scenario.confirm_var: str(given)}
    return extravars


def cmd_list(project: Project, as_json: bool) -> int:
    scenarios = sorted(project.scenarios.values(), key=lambda s: (not s.registered, s.name))
    if as_json:
        print(json.dumps([{
            "name": s.name, "playbook": s.playbook, "description": s.description,
            "destructive": s.destructive, "confirm_var": s.confirm_var, "rto": s.rto,
            "registered": s.registered, "available": s.available,
            "params": [{"name": p.name, "type": p.type, "default": p.default, "description": p.description}
                       for p in s.params],
        } for s in scenarios], indent=2))
        return 0
    width = max(len(s.name) for s in scenarios) if scenarios else 10
    for s in scenarios:
        flags = []
        if s.destructive:
            flags.append(f"DESTRUCTIVE, confirm with {s.confirm_var}=ENV" if s.confirm_var else "DESTRUCTIVE")
        if not s.available:
            flags.append("not available: playbook missing")
        extra = f"  [{'; '.join(flags)}]" if flags else ""
        print(f"{s.name:<{width}}  {s.description}{extra}")
        for p in s.params:
            default = f" (default {p.default})" if p.default is not None else ""
            print(f"{'':<{width}}    -e {p.name}=<{p.type}>{default}  {p.description}")
    print(f"\n{sum(s.available for s in scenarios)} of {len(scenarios)} scenario(s) available in {project.root}")
    return 0


class ProgressPrinter:
    """One line per phase and task, prefixed with the time since the start."""

    def __init__(self, stream: Any = sys.stdout, tasks: bool = True) -> None:
        self.stream = stream
        self.tasks = tasks

    def __call__(self, p: Progress) -> None:
        stamp = f"[{format_duration(p.elapsed):>8}]"
        if p.kind == "phase_start":
            line = f"{stamp} == phase {p.phase_index}: {p.text}"
        elif p.kind == "phase_done":
            line = f"{stamp} == phase {p.phase_index} {p.text}"
        elif p.kind == "task":
            if not self.tasks:
                return
            line = f"{stamp}    {p.text}"
        elif p.kind in ("host_failed", "host_unreachable"):
            line = f"{stamp} !! {p.text}"
        else:
            line = f"{stamp} {p.text}"
        print(line, file=self.stream, flush=True)


def cmd_run(project: Project, args: argparse.Namespace) -> int:
    scenario = project.get(args.scenario)
    if not scenario.available:
        raise Refused(f"{scenario.name}: playbook {scenario.playbook} is not in this checkout ({project.root})")
    extravars = parse_extravars(args.extra_vars or [])
    if args.env and args.inventory:
        raise Refused("give either --env or --inventory, not both")
    inventory = str(project.inventory_for(args.env)) if args.env else args.inventory
    extravars = check_confirmation(scenario, extravars, args.confirm, args.env)
    options = RunOptions(extravars=extravars, inventory=inventory, limit=args.limit, check=args.check,
                         diff=args.diff, vault_password_file=args.vault_password_file, timeout=args.timeout,
                         artifacts_dir=args.artifacts, verbosity=args.verbose)
    target = inventory or "the default inventory (ansible.cfg)"
    mode = " in check mode" if args.check else ""
    print(f"fleetpulse-dr: running {scenario.name}{mode} ({scenario.playbook}) on {target}"
          + (f", limited to {args.limit}" if args.limit else ""), flush=True)
    result = run_scenario(project, scenario, options,
                          on_progress=None if args.json else ProgressPrinter(tasks=not args.quiet))
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        print("\n" + result.format_summary(), flush=True)
    if result.ok:
        return 0
    return result.rc or 1


def cmd_bridge(project: Project, config: str) -> int:
    from fleetpulse_dr.bridge import ConfigError, serve  # noqa: PLC0415  (only the bridge needs it)

    try:
        return serve(project, config)
    except (ConfigError, OSError) as exc:
        print(f"fleetpulse-dr bridge: cannot start: {exc}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleetpulse-dr", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--project", help="the fleetpulse.dr checkout (default: found from the current directory)")
    parser.add_argument("--registry", help="scenario registry (default: PROJECT/meta/scenarios.yml)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="list the scenarios")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = sub.add_parser("run", help="run a scenario through ansible-runner")
    p.add_argument("scenario")
    p.add_argument("-e", "--extra-vars", action="append", metavar="VARS",
                   help="key=value, @file.yml or a JSON object (repeatable)")
    p.add_argument("--env", help="target environment: uses inventories/ENV of the checkout")
    p.add_argument("-i", "--inventory", help="inventory path (default: ansible.cfg's, the local demo)")
    p.add_argument("-l", "--limit", help="limit to these hosts or groups")
    p.add_argument("--confirm", metavar="ENV",
                   help="for destructive scenarios: the target environment's name, as confirmation")
    p.add_argument("-C", "--check", action="store_true", help="check mode: report, change nothing")
    p.add_argument("-D", "--diff", action="store_true", help="show differences of changed files")
    p.add_argument("--vault-password-file", help="file holding the vault password (no prompt is ever shown)")
    p.add_argument("--artifacts", help="artifact directory (default: PROJECT/artifacts)")
    p.add_argument("--timeout", type=int, help="stop the run after this many seconds")
    p.add_argument("-q", "--quiet", action="store_true", help="phases only, no task lines")
    p.add_argument("-v", "--verbose", action="count", default=0, help="ansible verbosity in the artifacts")
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of progress and summary")
    p = sub.add_parser("bridge", help="serve Slack slash commands (/dr ...)")
    p.add_argument("--config", required=True, help="bridge configuration (YAML), see docs/automation.md")
    p = sub.add_parser("audit-verify", help="check that the bridge's audit log is complete (hash chain)")
    p.add_argument("path")
    return parser


def cmd_audit_verify(path: str) -> int:
    from fleetpulse_dr.security import verify_chain  # noqa: PLC0415

    try:
        count = verify_chain(path)
    except (OSError, ValueError) as exc:
        print(f"fleetpulse-dr: audit log NOT intact: {exc}", file=sys.stderr)
        return 1
    print(f"{path}: {count} record(s), chain intact")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "audit-verify":
        return cmd_audit_verify(args.path)
    commands = {"list": lambda p: cmd_list(p, args.json), "run": lambda p: cmd_run(p, args),
                "bridge": lambda p: cmd_bridge(p, args.config)}
    try:
        return commands[args.command](Project.load(args.project, args.registry))
    except (Refused, RegistryError, ParamError) as exc:
        print(f"fleetpulse-dr: refused: {exc}", file=sys.stderr)
        return EX_USAGE
    except KeyboardInterrupt:
        print("fleetpulse-dr: interrupted", file=sys.stderr)
        return 130
