# Copyright: (c) 2026, FleetPulse Platform Engineering
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus textfile metrics (node_exporter's textfile collector), written atomically.

node_exporter reads every ``*.prom`` file of its directory at each scrape; a file read
while it is being written would give partial metrics, so this writes a hidden temporary
file in the same directory, fsyncs it and renames it over the old one. Standard library
only (it runs on the managed host).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ansible_collections.fleetpulse.dr.plugins.module_utils import atomicfile


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_value(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


@dataclass
class Metric:
    name: str
    help: str
    type: str = "gauge"
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def add(self, value: float, **labels: str) -> Metric:
        self.samples.append((labels, value))
        return self


def render(metrics: list[Metric]) -> str:
    """The text exposition format: HELP, TYPE and samples of each metric that has samples."""
    lines: list[str] = []
    for metric in metrics:
        if not metric.samples:
            continue
        lines.append(f"# HELP {metric.name} {metric.help}")
        lines.append(f"# TYPE {metric.name} {metric.type}")
        for labels, value in metric.samples:
            text = ",".join(f'{k}="{escape_label(str(v))}"' for k, v in sorted(labels.items()))
            lines.append(f"{metric.name}{{{text}}} {format_value(value)}" if text else
                         f"{metric.name} {format_value(value)}")
    return "\n".join(lines) + "\n"


def write(path: str, metrics: list[Metric], mode: int = 0o644) -> None:
    """Write the metrics file atomically (hidden temp file in the same directory, fsync, rename)."""
    atomicfile.write_text(path, render(metrics), mode, prefix=".", suffix=".prom.tmp")
