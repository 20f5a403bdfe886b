"""WireMock standalone for the tests that compare mockserver with it: the jar from the npm
package `wiremock` (as the benchmark gets it), started on a port of its choosing on loopback
with a root directory of `mappings/` and `__files/`, stopped by the caller.

The jar is installed once into a cache outside the work tree (~/.cache/mockserver/wiremock, or
$WIREMOCK_CACHE), so fresh clones on the same machine (CI's) find it; a jar the benchmark
installed into bench/.work serves too. `python -m tests.wiremock_server` installs it ahead of
the tests (.ci/run does, so no test waits for npm). A missing java or npm skips the test with
the install command, and fails it under CI=true, where `.ci/run` installs them.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parent.parent
BENCH_JARS: Final = ROOT / "bench" / ".work"  # git-ignored; bench/run.py's JAR_DIR
JAR_CACHE: Final = Path(
    os.environ.get("WIREMOCK_CACHE") or Path.home() / ".cache" / "mockserver" / "wiremock"
)
WIREMOCK_VERSION: Final = "3.13.2"  # bench/run.py's
INSTALL: Final = "Debian: apt-get install default-jdk-headless nodejs npm"
IN_CI: Final = os.environ.get("CI") == "true"


def _missing(reason: str) -> None:
    message = f"{reason} ({INSTALL}, or set WIREMOCK_JAR)"
    if IN_CI:
        pytest.fail(f"{message}; CI=true, so a missing tool is a failure")
    pytest.skip(message)


def wiremock_jar() -> Path:
    """The standalone jar: $WIREMOCK_JAR, or installed from npm into the cache on first use."""
    if shutil.which("java") is None:
        _missing("java not found: WireMock cannot run")
    if env := os.environ.get("WIREMOCK_JAR"):
        return Path(env)
    bench = sorted((BENCH_JARS / "node_modules" / "wiremock" / "build").glob("wiremock-*.jar"))
    if bench:
        return bench[-1]
    build = JAR_CACHE / "node_modules" / "wiremock" / "build"
    JAR_CACHE.mkdir(parents=True, exist_ok=True)
    # two test workers may both want it: one installs, the other waits and finds it
    with open(JAR_CACHE / ".wiremock.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        jars = sorted(build.glob("wiremock-standalone-*.jar"))
        if jars:
            return jars[-1]
        npm = shutil.which("npm")
        if npm is None:
            _missing("npm not found, so no WireMock jar")
            raise AssertionError("unreachable")  # _missing skips or fails
        cmd = [npm, "install", "--prefix", str(JAR_CACHE), "--no-audit", "--no-fund"]
        done = subprocess.run(
            [*cmd, f"wiremock@{WIREMOCK_VERSION}"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        jars = sorted(build.glob("wiremock-standalone-*.jar"))
        if done.returncode != 0 or not jars:
            pytest.fail(f"npm install wiremock failed: {done.stderr.strip()[-1000:]}")
        return jars[-1]


@dataclass
class WireMock:
    process: subprocess.Popen[str]
    url: str

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_wiremock(root: Path) -> WireMock:
    """WireMock serving `root`/mappings and `root`/__files on 127.0.0.1, a port it picks.

    Ready once it prints its port (it does so after it listens) and answers its health check.
    """
    jar = wiremock_jar()
    cmd = ["java", "-jar", str(jar), "--port", "0", "--bind-address", "127.0.0.1"]
    cmd += ["--root-dir", str(root), "--disable-banner"]
    process = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=root
    )
    assert process.stdout is not None
    seen = []
    for line in process.stdout:  # blocks until WireMock prints: no polling, no sleep
        seen.append(line)
        key, _, value = line.partition(":")
        if key.strip() == "port" and value.strip().isdigit():
            url = f"http://127.0.0.1:{int(value)}"
            with urllib.request.urlopen(f"{url}/__admin/health", timeout=30) as answer:
                assert json.load(answer)["status"] == "healthy"
            return WireMock(process, url)
    process.wait()
    pytest.fail(f"WireMock did not start: {''.join(seen)[-3000:]}")
    raise AssertionError("unreachable")


if __name__ == "__main__":  # .ci/run: the jar installed before the tests and their timeouts
    print(wiremock_jar())
