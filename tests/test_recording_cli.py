"""`mockserver serve --record` as a user runs it: record against a real upstream (another
`mockserver serve`), the file on disk, `validate`, then replay with the upstream stopped."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import yaml

from tests.serving import write_stubs
from tests.test_cli import Server, run

UPSTREAM = """
- request: {method: GET, path: /v1/models/m1}
  response: {headers: {X-Secret: s3cr3t, X-Kept: k}, json: {id: m1, owned_by: org}}
"""


def fetch(url: str, headers: dict[str, str] | None = None) -> bytes:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        body: bytes = response.read()
        return body


def test_record_with_the_cli_then_replay_with_none(tmp_path: Path) -> None:
    upstream_stubs = write_stubs(tmp_path / "up", {"up.yaml": UPSTREAM})
    stubs = write_stubs(tmp_path / "stubs", {"hand.yaml": "- request: {path: /health}\n"})
    upstream = Server("--stubs", str(upstream_stubs), "--port", "0")
    try:
        recording = Server(
            "--stubs", str(stubs), "--port", "0", "--record", f"models={upstream.url}",
            "--redact-header", "X-Secret",
        )  # fmt: skip
        recorded = fetch(recording.url + "/models/v1/models/m1", {"Authorization": "Bearer k"})
        code, _, _ = recording.stop()
        assert code == 0
    finally:
        upstream.stop()
    written = stubs / "recorded" / "models.yaml"
    document = yaml.safe_load(written.read_text())
    (stub,) = document["stubs"]
    assert stub["request"]["headers"] == {"Authorization": {"present": True}}
    assert stub["response"]["headers"]["X-Secret"] == "REDACTED"
    assert stub["response"]["headers"]["X-Kept"] == "k"
    checked = run("validate", str(stubs))
    assert checked.returncode == 0, checked.stderr
    replay = Server(
        "--stubs", str(stubs), "--port", "0", "--record", f"models={upstream.url}",
        "--record-mode", "none",
    )  # fmt: skip
    try:
        assert fetch(replay.url + "/models/v1/models/m1", {"Authorization": "Bearer x"}) == recorded
    finally:
        replay.stop()


def test_a_record_flag_without_a_url_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run("serve", "--stubs", str(tmp_path), "--record", "models")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "mockserver: error: --record 'models': expected SERVICE=URL (stripe=https://api.stripe.com)"
    ]
