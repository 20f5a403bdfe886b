"""What `mockserver serve` loads before its first response: only what every start-up needs.

Each test runs a fresh interpreter and reads `sys.modules`: a module that is imported is paid for
in start-up time and in memory by every server, so the optional ones (the client, template and
JSON Schema engines, the file watcher) load only when a stub or flag asks for them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serving import write_stubs

# Loaded on demand only: the client by the package's lazy names; jinja2, jsonschema,
# jsonpath_rfc9535 and regex by the stubs that use templates, json_schema, json_path and
# matches; watchfiles by --watch; logging.handlers by the first log record; difflib by a
# misspelt field; the OpenAPI module and pydantic's TypeAdapter (JSON Schema) by GET
# openapi.json or `mockserver schema`; redis and the Redis state by --state redis://.
OPTIONAL = {
    "redis",
    "mockserver.redis_state",
    "mockserver.redis_journal",
    "mockserver.client",
    "jinja2",
    "jsonschema",
    "jsonpath_rfc9535",
    "regex",
    "watchfiles",
    "logging.handlers",
    "difflib",
    "mockserver.admin.openapi",
    "pydantic.type_adapter",
}


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running `code`."""
    script = f"{code}\nimport sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", f"import json\n{script}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded: list[str] = json.loads(result.stdout.splitlines()[-1])
    return set(loaded)


def _top_level(modules: set[str]) -> set[str]:
    return modules | {name.partition(".")[0] for name in modules}


def test_importing_the_cli_leaves_the_optional_modules_out() -> None:
    assert _top_level(_modules_after("import mockserver.cli")) & OPTIONAL == set()


def test_building_the_app_from_plain_stubs_leaves_the_optional_modules_out(
    tmp_path: Path,
) -> None:
    # what `serve` does before it listens: load the stubs, build the app
    stubs = [
        {
            "id": "customer",
            "request": {"method": "GET", "path": "/v1/customers/{id}"},
            "response": {"json": {"id": "cus_1"}, "headers": {"X-Id": "1"}},
        },
        {"request": {"path": "/health", "query": {"full": "1"}}},
    ]
    write_stubs(tmp_path, {"plain.yaml": json.dumps(stubs)})
    code = (
        "from pathlib import Path\n"
        "from mockserver.app import build_app\n"
        "from mockserver.config import Settings\n"
        f"build_app(Settings(stubs=(Path({str(tmp_path)!r}),)))"
    )
    assert _top_level(_modules_after(code)) & OPTIONAL == set()


def test_the_package_loads_the_client_on_first_use() -> None:
    assert "mockserver.client" not in _modules_after("import mockserver")
    loaded = _modules_after("from mockserver import MockServerClient")
    assert "mockserver.client" in loaded


@pytest.mark.parametrize(
    ("stub", "module"),
    [
        ({"request": {"body": {"json_schema": {"type": "object"}}}}, "jsonschema"),
        ({"request": {"body": {"json_path": {"$.a": "1"}}}}, "jsonpath_rfc9535"),
        ({"request": {"path": "/t"}, "response": {"template": True, "body": "{{ 1 }}"}}, "jinja2"),
        ({"request": {"query": {"q": {"matches": "a+"}}}}, "regex"),
        ({"request": {"heders": {}}}, "difflib"),
    ],
)
def test_a_stub_that_needs_an_optional_module_loads_it(
    tmp_path: Path, stub: dict[str, object], module: str
) -> None:
    write_stubs(tmp_path, {"one.yaml": json.dumps([stub])})
    code = (
        "from pathlib import Path\n"
        "from mockserver.errors import StubLoadError\n"
        "from mockserver.loader import load_paths\n"
        "try:\n"
        f"    load_paths([Path({str(tmp_path)!r})])\n"
        "except StubLoadError:\n"
        "    pass\n"
    )
    assert module in _modules_after(code)


def test_the_admin_context_asks_for_the_version_when_it_is_shown() -> None:
    from mockserver.admin.context import AdminContext
    from mockserver.config import Settings
    from mockserver.memory_state import MemoryState
    from mockserver.store import StubStore

    asked: list[str] = []

    def version() -> str:
        asked.append("version")
        return "1.2.3"

    store = StubStore((), MemoryState(10, 10_000, 1))
    context = AdminContext(Settings(), store, version)
    assert asked == []
    assert context.version == "1.2.3"
    assert AdminContext(Settings(), store, "0.1.0").version == "0.1.0"
