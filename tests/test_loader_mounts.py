"""Stub directories as orchestrators mount them: each stub file is loaded once.

A Kubernetes ConfigMap (or Secret, or projected volume) mounted at /stubs is not a plain folder.
The kubelet writes the files into a hidden timestamped directory, points the hidden symlink
`..data` at it (swapped at once on an update), and makes each visible name a symlink through
`..data`:

    /stubs/..2026_12_03_07_00_00.123456789/stripe.yaml
    /stubs/..data -> ..2026_12_03_07_00_00.123456789
    /stubs/stripe.yaml -> ..data/stripe.yaml
    /stubs/packs -> ..data/packs                     (an item with `path: packs/slack.yaml`)

WireMock loads such a mount three times over (wiremock#1211): through each of the three paths.
"""

from __future__ import annotations

import os
from pathlib import Path

from mockserver.loader import find_stub_files, load_paths
from tests.serving import ServeStubs, write_stubs

TIMESTAMPED = "..2026_12_03_07_00_00.123456789"


def configmap_mount(mount: Path, files: dict[str, str]) -> Path:
    """The layout the kubelet writes for a ConfigMap volume whose items are `files`."""
    write_stubs(mount / TIMESTAMPED, files)
    (mount / "..data").symlink_to(TIMESTAMPED, target_is_directory=True)
    for top in sorted({name.split("/")[0] for name in files}):
        (mount / top).symlink_to(f"..data/{top}", target_is_directory="/" in top)
    return mount


PACKS = {
    "stripe.yaml": """
        service: stripe
        base_path: /stripe
        stubs:
          - id: charge
            request: {method: POST, path: /v1/charges}
            response: {json: {id: ch_1}}
    """,
    "github.json": '[{"id": "repo", "request": {"path": "/github/repos/a/b"}}]',
    "packs/slack.yaml": """
        - id: post-message
          request: {method: POST, path: /slack/api/chat.postMessage}
          response: {json: {ok: true}}
    """,
    "packs/__files/reply.json": '{"ok": true}',
}


def test_a_configmap_mount_gives_each_file_once_under_its_visible_name(tmp_path: Path) -> None:
    mount = configmap_mount(tmp_path / "stubs", PACKS)
    # the layout is the kubelet's: three paths reach each file
    assert (mount / "..data" / "stripe.yaml").is_file()
    assert (mount / TIMESTAMPED / "stripe.yaml").is_file()
    assert (mount / "stripe.yaml").is_symlink()
    assert (mount / "packs").is_symlink()

    found = [path.relative_to(mount).as_posix() for path in find_stub_files([mount])]
    assert found == ["github.json", "packs/slack.yaml", "stripe.yaml"]

    loaded = load_paths([mount])
    assert sorted(stub.id for stub in loaded.stubs) == ["charge", "post-message", "repo"]
    assert {stub.source.rpartition(":")[0] for stub in loaded.stubs} == {
        str(mount / name) for name in found
    }


async def test_the_server_serves_a_configmap_mount_with_each_stub_once(
    serve: ServeStubs, tmp_path: Path
) -> None:
    configmap_mount(tmp_path / "stubs", PACKS)  # the directory `serve` loads
    client = await serve()
    listed = await (await client.get("/__admin/stubs")).json()
    assert sorted(stub["id"] for stub in listed["stubs"]) == ["charge", "post-message", "repo"]
    answer = await client.post("/stripe/v1/charges")
    assert (answer.status, await answer.json()) == (200, {"id": "ch_1"})


def test_a_file_reached_through_two_names_is_loaded_once(tmp_path: Path) -> None:
    stubs = write_stubs(tmp_path / "stubs", {"a.yaml": "- id: only\n  request: {path: /a}\n"})
    (stubs / "b.yaml").symlink_to("a.yaml")
    assert find_stub_files([stubs]) == [stubs / "a.yaml"]
    assert [stub.id for stub in load_paths([stubs]).stubs] == ["only"]


def test_symlinked_directories_are_followed_and_a_loop_ends(tmp_path: Path) -> None:
    shared = write_stubs(tmp_path / "shared", {"common.yaml": "- id: common\n"})
    stubs = write_stubs(tmp_path / "stubs", {"own.yaml": "- id: own\n"})
    (stubs / "shared").symlink_to(shared, target_is_directory=True)
    (shared / "back").symlink_to(stubs, target_is_directory=True)  # a loop
    (stubs / "dangling.yaml").symlink_to(tmp_path / "missing.yaml")
    os.symlink(tmp_path / "nowhere", stubs / "gone", target_is_directory=True)
    found = [path.relative_to(stubs).as_posix() for path in find_stub_files([stubs])]
    assert found == ["own.yaml", "shared/common.yaml"]
