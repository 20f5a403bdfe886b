"""Runs a client program of another language (Node, Java) once over the whole plan and reads
its JSON lines: one process per language, so the suite starts each runtime once."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

from tests.conformance.checks import CHECKS, ClientRun, Observation

CLIENTS_DIR = Path(__file__).parent / "clients"


def write_plan(directory: Path) -> Path:
    """The plan as JSON (Node) and as tab-separated lines (Java has no JSON parser built in):
    name, method, path, the headers as `name: value` lines, the body; text fields in base64."""
    plan = [check.plan() for check in CHECKS]
    path = directory / "plan.json"
    path.write_text(json.dumps(plan))
    lines = []
    for check in CHECKS:
        head = "".join(f"{name}: {value}\n" for name, value in check.sent_headers())
        fields = [
            check.name,
            check.method,
            check.path,
            base64.b64encode(head.encode()).decode(),
            base64.b64encode(check.body).decode(),
            "1" if check.http10 else "0",
        ]
        lines.append("\t".join(fields))
    (directory / "plan.tsv").write_text("\n".join(lines) + "\n")
    return path


def run_program(command: list[str], clients: list[str], timeout: float) -> dict[str, ClientRun]:
    """Each client's run, from the program's JSON lines; a program that fails fails every
    check with its output."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    runs = {client: ClientRun(client) for client in clients}
    if done.returncode != 0:
        for run in runs.values():
            for check in run.checks():
                run.failed[check.name] = f"exit {done.returncode}: {done.stderr[-2000:]}"
        return runs
    for line in done.stdout.splitlines():
        if not line.startswith("{"):
            continue
        data = json.loads(line)
        run = runs[data["client"]]
        if "error" in data:
            run.failed[data["check"]] = data["error"]
        else:
            run.observed[data["check"]] = Observation.from_line(data)
    return runs
