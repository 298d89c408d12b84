"""The scenario registry (meta/scenarios.yml) and the project it belongs to.

The registry is the single source of what the command line, the chat bridge and the
AWX job templates offer: name, playbook, destructive or not, the confirmation variable
the playbook checks, and the extra vars a caller may set. Playbooks under playbooks/
that have no entry are still listed (and runnable from the command line, treated as
destructive) so a newly landed playbook is visible before its entry is written.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

REGISTRY = Path("meta/scenarios.yml")
NAME_RE = re.compile(r"^[a-z][a-z0-9-]*$")
VAR_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
PARAM_TYPES = ("str", "int", "bool", "choice")
TRUE = {"true", "yes", "on", "1"}
FALSE = {"false", "no", "off", "0"}


class RegistryError(ValueError):
    """The registry file is missing or malformed."""


class ParamError(ValueError):
    """A caller passed a parameter the scenario does not take, or a bad value."""


@dataclass(frozen=True)
class Param:
    name: str
    type: str = "str"
    description: str = ""
    default: Any = None
    choices: tuple[str, ...] = ()
    required: bool = False

    def convert(self, raw: str) -> Any:
        """Turn a text value (chat, command line) into the declared type, or raise ParamError."""
        if self.type == "int":
            try:
                return int(raw)
            except ValueError:
                raise ParamError(f"{self.name} must be a whole number, not {raw!r}") from None
        if self.type == "bool":
            low = raw.strip().lower()
            if low in TRUE:
                return True
            if low in FALSE:
                return False
            raise ParamError(f"{self.name} must be true or false, not {raw!r}")
        if self.type == "choice" and raw not in self.choices:
            raise ParamError(f"{self.name} must be one of {', '.join(self.choices)}, not {raw!r}")
        return raw


@dataclass(frozen=True)
class Scenario:
    name: str
    playbook: str
    description: str
    destructive: bool
    confirm_var: str | None = None
    rto: str | None = None
    params: tuple[Param, ...] = ()
    registered: bool = True
    available: bool = True

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def convert_params(self, raw: dict[str, str]) -> dict[str, Any]:
        """Check caller-supplied parameters against the declared ones (chat, AWX): nothing else passes."""
        out: dict[str, Any] = {}
        for key, value in raw.items():
            param = self.param(key)
            if param is None:
                allowed = ", ".join(p.name for p in self.params) or "none"
                raise ParamError(f"{self.name} takes no parameter {key!r} (parameters: {allowed})")
            out[key] = param.convert(value)
        missing = [p.name for p in self.params if p.required and p.name not in out]
        if missing:
            raise ParamError(f"{self.name} needs {', '.join(missing)}")
        return out


@dataclass
class Project:
    """A checkout of the collection: where playbooks, inventories and the registry live."""

    root: Path
    registry_path: Path | None = None
    scenarios: dict[str, Scenario] = field(default_factory=dict)
    job_template_prefix: str = "FleetPulse DR - "

    @classmethod
    def load(cls, root: Path | str | None = None, registry: Path | str | None = None) -> Project:
        root_path = find_root(root)
        reg = Path(registry) if registry else root_path / REGISTRY
        if not reg.is_absolute():
            reg = root_path / reg
        project = cls(root=root_path, registry_path=reg)
        project._load_registry()
        project._discover()
        return project

    def _load_registry(self) -> None:
        assert self.registry_path is not None
        if not self.registry_path.is_file():
            raise RegistryError(f"no scenario registry at {self.registry_path}")
        try:
            data = yaml.safe_load(self.registry_path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise RegistryError(f"{self.registry_path}: not valid YAML: {exc}") from None
        self.job_template_prefix = str((data.get("awx") or {}).get("job_template_prefix", self.job_template_prefix))
        entries = data.get("scenarios")
        if not isinstance(entries, list):
            raise RegistryError(f"{self.registry_path}: 'scenarios' must be a list")
        for entry in entries:
            scenario = parse_entry(entry, self.registry_path)
            if scenario.name in self.scenarios:
                raise RegistryError(f"{self.registry_path}: scenario {scenario.name} is listed twice")
            available = (self.root / scenario.playbook).is_file()
            self.scenarios[scenario.name] = replace(scenario, available=available)

    def _discover(self) -> None:
        """Unregistered playbooks/*.yml: listed, runnable from the command line only, treated as destructive."""
        known = {s.playbook for s in self.scenarios.values()}
        for path in sorted((self.root / "playbooks").glob("*.yml")):
            rel = path.relative_to(self.root).as_posix()
            if rel in known or path.stem in self.scenarios:
                continue
            self.scenarios[path.stem] = Scenario(
                name=path.stem, playbook=rel, registered=False, destructive=True,
                description="(not in meta/scenarios.yml: treated as destructive, command line only)")

    def get(self, name: str) -> Scenario:
        try:
            return self.scenarios[name]
        except KeyError:
            raise RegistryError(
                f"unknown scenario {name!r}; known: {', '.join(sorted(self.scenarios))}") from None

    def playbook_path(self, scenario: Scenario) -> Path:
        return self.root / scenario.playbook

    def inventory_for(self, environment: str) -> Path:
        """inventories/<environment> of the checkout (production, staging, local)."""
        path = self.root / "inventories" / environment
        if not path.exists():
            envs = sorted(p.name for p in (self.root / "inventories").glob("*") if p.is_dir())
            raise RegistryError(f"no inventory for environment {environment!r} at {path}; "
                                f"environments: {', '.join(envs) or 'none'}")
        return path


def parse_entry(entry: Any, where: Path) -> Scenario:
    if not isinstance(entry, dict):
        raise RegistryError(f"{where}: every scenario must be a mapping, got {entry!r}")
    name = entry.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise RegistryError(f"{where}: scenario name {name!r} must be lower-case letters, digits and dashes")
    unknown = set(entry) - {"name", "playbook", "description", "destructive", "confirm_var", "rto", "params"}
    if unknown:
        raise RegistryError(f"{where}: scenario {name}: unknown key(s) {', '.join(sorted(unknown))}")
    playbook = entry.get("playbook")
    if not isinstance(playbook, str) or not playbook.startswith("playbooks/") or ".." in playbook:
        raise RegistryError(f"{where}: scenario {name}: playbook must be a path under playbooks/, got {playbook!r}")
    destructive = entry.get("destructive")
    if not isinstance(destructive, bool):
        raise RegistryError(f"{where}: scenario {name}: destructive must be true or false")
    confirm_var = entry.get("confirm_var")
    if destructive and not (isinstance(confirm_var, str) and VAR_RE.match(confirm_var)):
        raise RegistryError(f"{where}: scenario {name} is destructive: confirm_var must name the variable "
                            "its playbook checks")
    if not destructive and confirm_var is not None:
        raise RegistryError(f"{where}: scenario {name}: confirm_var only makes sense for destructive scenarios")
    params = []
    for raw in entry.get("params") or []:
        if not isinstance(raw, dict) or not VAR_RE.match(str(raw.get("name", ""))):
            raise RegistryError(f"{where}: scenario {name}: every param needs a variable name, got {raw!r}")
        ptype = raw.get("type", "str")
        if ptype not in PARAM_TYPES:
            raise RegistryError(f"{where}: scenario {name}: param {raw['name']}: type must be one of "
                                f"{', '.join(PARAM_TYPES)}")
        choices = tuple(str(c) for c in raw.get("choices") or ())
        if ptype == "choice" and not choices:
            raise RegistryError(f"{where}: scenario {name}: param {raw['name']}: a choice needs choices")
        if raw["name"] == confirm_var:
            raise RegistryError(f"{where}: scenario {name}: the confirmation variable cannot be a param")
        params.append(Param(name=raw["name"], type=ptype, description=str(raw.get("description", "")),
                            default=raw.get("default"), choices=choices, required=bool(raw.get("required", False))))
    return Scenario(name=name, playbook=playbook, description=str(entry.get("description", "")),
                    destructive=destructive, confirm_var=confirm_var,
                    rto=None if entry.get("rto") is None else str(entry["rto"]), params=tuple(params))


def find_root(start: Path | str | None = None) -> Path:
    """The checkout: ``start``, $FLEETPULSE_DR_PROJECT, the nearest parent of the current
    directory holding meta/scenarios.yml, or the checkout this package sits in."""
    candidates: list[Path] = []
    if start:
        candidates.append(Path(start))
    elif os.environ.get("FLEETPULSE_DR_PROJECT"):
        candidates.append(Path(os.environ["FLEETPULSE_DR_PROJECT"]))
    else:
        cwd = Path.cwd().resolve()
        candidates += [cwd, *cwd.parents]
        candidates.append(Path(__file__).resolve().parents[3])  # tools/fleetpulse-dr/fleetpulse_dr/
    for path in candidates:
        if (path / REGISTRY).is_file():
            return path.resolve()
    where = ", ".join(str(p) for p in candidates[:3])
    raise RegistryError(f"no fleetpulse.dr checkout found (looked for {REGISTRY} in {where}); "
                        "pass --project DIR or set FLEETPULSE_DR_PROJECT")
