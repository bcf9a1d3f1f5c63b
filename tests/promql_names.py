"""The metric names a PromQL expression reads, and every expression the shipped rules and dashboards hold.

A deliberately small lexer, not a PromQL parser: strings, label matchers, range/offset brackets and grouping
clauses are removed, then every identifier that is not a function call, keyword or aggregation modifier is a
metric name. The expressions it reads are ours (ops/), and tests/unit/test_promql_names.py pins what it does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from photostream.settings import PROJECT_ROOT

OPS = PROJECT_ROOT / "ops"
RULE_FILE = OPS / "prometheus" / "alerts.yml"
DASHBOARDS = sorted((OPS / "grafana").glob("*.json"))
#: series Prometheus makes itself (not exported by any process)
SYNTHETIC = frozenset({"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds", "scrape_samples_scraped"})
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left",
                       "group_right", "inf", "nan", "atan2"})
_STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")


def metric_names(expr: str) -> set[str]:
    """Names of the series ``expr`` selects."""
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges and subqueries
    text = _GROUPING.sub(" ", text)
    text = re.sub(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+)?[smhdwy]?\b", " ", text)  # numbers and durations
    return {m.group(1) for m in _IDENT.finditer(text)
            if not m.group(2) and m.group(1).lower() not in _KEYWORDS}


def rule_expressions(path: Path = RULE_FILE) -> dict[str, str]:
    """``{alert name: expr}`` of a Prometheus rule file."""
    groups = yaml.safe_load(path.read_text())["groups"]
    return {rule.get("alert") or rule["record"]: rule["expr"] for group in groups for rule in group["rules"]}


def dashboard_expressions(path: Path) -> dict[str, str]:
    """``{"panel title / refId": expr}`` of a Grafana dashboard JSON (rows' nested panels included)."""
    found: dict[str, str] = {}

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    found[f"{panel['title']} / {target['refId']}"] = target["expr"]
            walk(panel.get("panels", []))

    walk(json.loads(path.read_text())["panels"])
    return found


def referenced_metrics() -> dict[str, set[str]]:
    """``{metric name: {where it is named}}`` over the rule file and every dashboard, synthetic series left out."""
    wheres: dict[str, set[str]] = {}
    sources = {f"alert {name}": expr for name, expr in rule_expressions().items()}
    for path in DASHBOARDS:
        sources |= {f"{path.name}: {where}": expr for where, expr in dashboard_expressions(path).items()}
    for where, expr in sources.items():
        for name in metric_names(expr) - SYNTHETIC:
            wheres.setdefault(name, set()).add(where)
    return wheres
