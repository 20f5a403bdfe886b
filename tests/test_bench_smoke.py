"""Smoke test of bench/run.py: a --quick run (1 s per workload), so the benchmark cannot rot.

It asserts that every workload ran and passed its body check, never how fast: timing belongs in
bench/RESULTS.md, not in the test suite. A missing tool skips the test locally and fails it under
CI=true, where .ci/run is expected to have installed wrk, uvloop, java and the WireMock jar.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI") == "true"


def require(present: bool, reason: str) -> None:
    if present:
        return
    if IN_CI:
        pytest.fail(f"{reason}; CI=true, so a missing tool is a failure")
    pytest.skip(reason)


# The quick run takes ~35 s on two idle cores; the margin is for a loaded CI machine.
@pytest.mark.timeout(90)
def test_quick_bench_runs_every_workload(tmp_path: Path) -> None:
    require(shutil.which("wrk") is not None, "wrk not installed (Debian: apt-get install wrk)")
    require(shutil.which("taskset") is not None, "taskset not installed (Debian: util-linux)")
    out = tmp_path / "results.json"
    cmd = [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--json", str(out)]
    cmd += ["--work", str(tmp_path)]
    if IN_CI:
        cmd.append("--require-all")

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=85, cwd=ROOT, check=False)

    assert done.returncode == 0, f"stderr:\n{done.stderr[-3000:]}\nstdout:\n{done.stdout[-3000:]}"
    results = json.loads(out.read_text())
    measured = {(row["workload"], row["server"]) for row in results["rows"] if row["rps"]}
    expected = {("W0", "aiohttp web"), ("W0", "aiohttp low-level")}
    expected |= {("W0", "aiohttp low-level + uvloop, bytes written")}  # uvloop is a dependency
    expected |= {(w, "mockserver") for w in ("W1", "W2", "W3")}
    assert expected <= measured
    journal = {entry["server"]: entry for entry in results["journals"]}
    assert journal["mockserver"]["entries"] >= 2000
    starts = {entry["server"]: entry["seconds"] for entry in results["startups"]}
    assert starts["mockserver"]
    assert starts["aiohttp web"]
    for heading in ("## Throughput and latency", "## W5", "## Start-up", "## Targets"):
        assert heading in done.stdout
