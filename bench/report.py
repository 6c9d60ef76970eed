"""The table on the terminal, ``bench/results.json`` and the results section of the README."""

from __future__ import annotations

import json
from pathlib import Path

from bench.context import Figure

README_START = "<!-- results:start -->"
README_END = "<!-- results:end -->"


def _number(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.3f}" if value < 10 else f"{value:,.1f}"
    return f"{value:,}"


def table(figures: list[Figure]) -> str:
    """A Markdown table (it reads well on a terminal too)."""
    lines = [
        "| benchmark | result | reference | ratio | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    for f in figures:
        met = {True: "yes", False: "**no**", None: "—"}[f.met]
        reference = f"{_number(f.reference)} ({f.reference_name})" if f.reference else "—"
        lines.append(
            f"| {f.name} | {_number(f.value)} {f.unit} | {reference} | {_number(f.ratio)} "
            f"| {f.goal} | {met} |"
        )
    return "\n".join(lines)


def details(figures: list[Figure]) -> str:
    """Rounds, scripts and plans printed beside the figures."""
    parts = []
    for f in figures:
        d = f.details
        if "rounds" in d:
            rounds = "\n".join(f"  {name}: {values}" for name, values in d["rounds"].items())
            parts.append(f"rounds of {f.key}:\n{rounds}")
        if "does_per_action" in d and isinstance(d["does_per_action"], dict):
            body = "\n".join(f"  {name}: {does}" for name, does in d["does_per_action"].items())
            parts.append(f"what each engine does per action ({f.key}):\n{body}")
        if "pgbench_script" in d:
            parts.append(f"pgbench script of one transition ({f.key}):\n\n{d['pgbench_script']}")
        if isinstance(d.get("statements"), list):  # the grid's is a count
            body = "\n".join(f"  {i}. {s}" for i, s in enumerate(d["statements"], 1))
            parts.append(f"statements of one fire_bulk call ({f.key}):\n{body}")
        for name, plan in d.get("plans", {}).items():
            parts.append(f"EXPLAIN ANALYZE, {f.key}, {name} (unit {d['unit']}):\n{plan}")
    return "\n\n".join(parts)


def write_results(path: Path, payload: dict) -> None:
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")


def update_readme(path: Path, payload: dict, figures: list[Figure]) -> None:
    """Replace the README's results section with this run's."""
    run = payload["run"]
    machine = payload["machine"]
    server = payload["server"]
    data = payload["data"]
    generated = data.get("result", {}).get("rows", {})
    section = [
        README_START,
        f"Latest run: **{run['date']}**, command `{run['command']}`, "
        f"{data.get('cases', 0):,} generated cases (+ pools appended by earlier runs: "
        f"{data.get('cases_now', 0):,} in the database); it took {run['seconds']} s. "
        f"Load average (1/5/15 min) before {run['load_before']}, after {run['load_after']} "
        "— the machine is shared, so figures move with other work.",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gb']} GB; "
        f"{machine['os']}; Python {machine['python']}; PostgreSQL {server['postgresql']} "
        f"(shared_buffers {server['shared_buffers']}, synchronous_commit "
        f"{server['synchronous_commit']}, fsync {server['fsync']}); database size "
        f"{server['database_size']}.",
        "",
    ]
    if generated:
        seconds = data["result"]["seconds"]
        section.append(
            f"Data: {sum(generated.values()):,} rows ({generated.get('case_events', 0):,} "
            f"history rows) generated in {data.get('seconds')} s on "
            f"{data.get('generated_at')} (simulation and COPY {seconds.get('load')} s, indexes "
            f"{seconds.get('indexes')} s, foreign keys {seconds.get('foreign_keys')} s)"
            + (" — reused by this run." if data.get("reused") else ".")
        )
        section.append("")
    section += [table(figures), "", README_END]
    text = path.read_text(encoding="utf-8")
    start, end = text.find(README_START), text.find(README_END)
    if start == -1 or end == -1:
        text = text.rstrip() + "\n\n" + "\n".join(section) + "\n"
    else:
        text = text[:start] + "\n".join(section) + text[end + len(README_END) :]
    path.write_text(text, encoding="utf-8")
