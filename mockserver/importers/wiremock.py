"""WireMock mappings (a `mappings/` directory of JSON files, with `__files/` beside it) ->
drafted stubs with the closest matchers. Pure but for reading the mapping and body files; the
request half is `wiremock_request`.

Each mapping becomes one stub: `request` (method, url/urlPath/urlPathTemplate/urlPattern/
urlPathPattern, queryParameters, headers, cookies, formParameters, bodyPatterns), `response`
(status, headers, body/jsonBody/base64Body/bodyFileName, fixedDelayMilliseconds, a uniform
delayDistribution, fault), `priority`, and `scenarioName`/`requiredScenarioState`/
`newScenarioState` as a `scenario` (WireMock's initial state "Started" is ours, "started").
Every field this cannot express is a `Problem` naming the file and the field; a mapping whose
answer cannot be expressed at all (a proxy, an unknown fault) is left out.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from mockserver.importers.output import Draft, DraftResponse, slug
from mockserver.importers.report import InputError, Problems
from mockserver.importers.wiremock_request import RequestTranslation
from mockserver.incoming import HOP_BY_HOP
from mockserver.redaction import Redaction

_FAULTS: Final = {
    "CONNECTION_RESET_BY_PEER": "connection_reset",
    "EMPTY_RESPONSE": "empty_response",
    "MALFORMED_RESPONSE_CHUNK": "malformed_response",
    "RANDOM_DATA_THEN_CLOSE": "malformed_response",
}
_IGNORED_MAPPING: Final = frozenset({"id", "uuid", "persistent", "metadata", "insertionIndex"})
_SENT_BY_SERVER: Final = HOP_BY_HOP | {"content-length"}  # the HTTP layer frames answers
STARTED: Final = "Started"


def mappings_dirs(directory: Path) -> tuple[Path, Path]:
    """(mappings, __files) for a WireMock root or its `mappings` directory."""
    if (directory / "mappings").is_dir():
        return directory / "mappings", directory / "__files"
    return directory, directory.parent / "__files"


def default_service_name(directory: Path) -> str:
    """The root's name: `payments-mocks/mappings` -> `payments-mocks`."""
    mappings, _ = mappings_dirs(directory.resolve())
    root = mappings.parent if mappings.name == "mappings" else mappings
    return re.sub(r"[^a-z0-9_.-]+", "-", root.name.lower()).strip("-.") or "wiremock"


def read_mappings(
    directory: Path, service: str, redaction: Redaction, problems: Problems
) -> list[Draft]:
    """Every `*.json` under the mappings directory, in sorted path order."""
    mappings, files = mappings_dirs(directory)
    if not mappings.is_dir():
        raise InputError(str(directory), "not a directory of WireMock mappings")
    drafts: list[Draft] = []
    for path in sorted(mappings.rglob("*.json")):
        source = str(path)
        for entry, mapping in _mappings_in(path):
            translation = _Mapping(source, entry, files, redaction, problems)
            draft = translation.draft(mapping, service, _slug_for(path, entry, mapping))
            if draft is not None:
                drafts.append(draft)
    return drafts


def _mappings_in(path: Path) -> list[tuple[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as error:
        raise InputError(str(path), error.strerror or str(error)) from None
    except UnicodeDecodeError as error:
        raise InputError(str(path), f"not UTF-8 text: {error.reason}") from None
    except json.JSONDecodeError as error:
        raise InputError(
            str(path), f"not JSON: {error.msg} (column {error.colno})", error.lineno
        ) from None
    if isinstance(data, Mapping) and isinstance(data.get("mappings"), list):
        return [(f"mappings[{index}].", item) for index, item in enumerate(data["mappings"])]
    if isinstance(data, Mapping) and "request" in data:
        return [("", data)]
    raise InputError(str(path), "not a WireMock mapping: no 'request' or 'mappings' at the top")


def _slug_for(path: Path, entry: str, mapping: Any) -> str:
    name = mapping.get("name") if isinstance(mapping, Mapping) else None
    if isinstance(name, str) and name.strip():
        return slug(name)
    index = entry.removeprefix("mappings[").removesuffix("].")
    return slug(path.stem + (f"-{index}" if entry else ""))


class _Mapping:
    """One mapping's translation; what does not translate is added to `problems`."""

    def __init__(
        self, source: str, entry: str, files: Path, redaction: Redaction, problems: Problems
    ) -> None:
        self.source, self.entry, self.files = source, entry, files
        self.redaction, self.problems = redaction, problems

    def skip(self, field: str, message: str) -> None:
        self.problems.add(self.source, self.entry + field, message)

    def draft(self, mapping: Any, service: str, name: str) -> Draft | None:
        if not isinstance(mapping, Mapping):
            self.skip("mapping", "not a JSON object: left out")
            return None
        request = mapping.get("request")
        if not isinstance(request, Mapping):
            self.skip("request", "missing or not an object: mapping left out")
            return None
        response = mapping.get("response", {})
        if not isinstance(response, Mapping):
            self.skip("response", "not an object: mapping left out")
            return None
        answer = self.response(response)
        if answer is None:
            return None
        extra: dict[str, Any] = {}
        if isinstance(mapping.get("name"), str):
            extra["description"] = mapping["name"]
        if "priority" in mapping:
            extra["priority"] = mapping["priority"]
        scenario = self.scenario(mapping)
        if scenario:
            extra["scenario"] = scenario
        handled = {"request", "response", "name", "priority", "scenarioName"}
        handled |= {"requiredScenarioState", "newScenarioState"}
        for key in mapping:
            if key not in handled and key not in _IGNORED_MAPPING:
                self.skip(key, "not supported")
        origin = (self.source, self.entry.rstrip(".") or "mapping")
        matcher = RequestTranslation(self.source, self.entry, self.redaction, self.problems)
        return Draft(service, name, matcher.request(request), [answer], [origin], extra)

    def scenario(self, mapping: Mapping[str, Any]) -> dict[str, Any]:
        name = mapping.get("scenarioName")
        if name is None:
            for key in ("requiredScenarioState", "newScenarioState"):
                if key in mapping:
                    self.skip(key, "without scenarioName: ignored")
            return {}
        scenario: dict[str, Any] = {"name": str(name)}
        if "requiredScenarioState" in mapping:
            scenario["state"] = _state(mapping["requiredScenarioState"])
        if "newScenarioState" in mapping:
            scenario["set_state"] = _state(mapping["newScenarioState"])
        return scenario

    # --- response --------------------------------------------------------------------------

    def response(self, response: Mapping[str, Any]) -> DraftResponse | None:
        for key in ("proxyBaseUrl", "fault"):
            if key in response and not (key == "fault" and response[key] in _FAULTS):
                self.skip(f"response.{key}", f"{response[key]!r}: not supported: mapping left out")
                return None
        fields: dict[str, Any] = {"status": response.get("status", 200)}
        headers = self.response_headers(response.get("headers"))
        if headers:
            redacted = self.redaction.header_map(headers)
            for name in headers:
                if redacted[name] != headers[name]:
                    self.skip(f"response.headers.{name}", "a secret: written as REDACTED")
            fields["headers"] = redacted
        body, binary, extension = self.response_body(response)
        fields.update(body)
        delay = self.delay(response)
        if delay is not None:
            fields["delay_ms"] = delay
        if "fault" in response:
            fields["fault"] = _FAULTS[response["fault"]]
        handled = {"status", "headers", "body", "jsonBody", "base64Body", "bodyFileName"}
        handled |= {"fixedDelayMilliseconds", "delayDistribution", "fault"}
        for key in response:
            if key == "transformers" or key == "transformerParameters":
                self.skip(
                    f"response.{key}", "response templates are not translated: sent as written"
                )
            elif key not in handled:
                self.skip(f"response.{key}", "not supported")
        return DraftResponse(fields, binary, extension)

    def response_headers(self, value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.skip("response.headers", "not an object: ignored")
            return {}
        # the HTTP layer frames the answer itself (Content-Length, Transfer-Encoding...)
        return {
            str(name): item
            for name, item in value.items()
            if str(name).lower() not in _SENT_BY_SERVER
        }

    def response_body(
        self, response: Mapping[str, Any]
    ) -> tuple[dict[str, Any], bytes | None, str]:
        given = [
            key for key in ("body", "jsonBody", "base64Body", "bodyFileName") if key in response
        ]
        for extra in given[1:]:
            self.skip(f"response.{extra}", f"only one body applies ({given[0]} is used)")
        if not given:
            return {}, None, ".bin"
        key = given[0]
        value = response[key]
        if key == "jsonBody":
            redacted = self.redaction.json_value(value)
            if redacted != value:
                self.skip("response.jsonBody", "secrets written as REDACTED")
            return {"json": redacted}, None, ".bin"
        if key == "body":
            text = str(value)
            if self.redaction.text(text) != text:
                self.skip("response.body", "secrets written as REDACTED")
            return {"body": self.redaction.text(text)}, None, ".bin"
        if key == "base64Body":
            try:
                raw = base64.b64decode(str(value), validate=True)
            except (binascii.Error, ValueError) as error:
                self.skip("response.base64Body", f"not base64: {error}")
                return {}, None, ".bin"
            return {}, raw, ".bin"
        name = str(value)
        if "{{" in name:
            self.skip("response.bodyFileName", f"{name!r}: templated file names are not supported")
            return {}, None, ".bin"
        target = (self.files / name).resolve()
        if not target.is_relative_to(self.files.resolve()) or not target.is_file():
            self.skip("response.bodyFileName", f"{name!r}: no such file under {self.files}")
            return {}, None, ".bin"
        content = target.read_bytes()
        try:
            text = content.decode()
        except UnicodeDecodeError:
            return {}, content, target.suffix or ".bin"
        if self.redaction.text(text) != text:
            self.skip("response.bodyFileName", f"{name!r}: secrets written as REDACTED")
            content = self.redaction.text(text).encode()
        return {}, content, target.suffix or ".bin"

    def delay(self, response: Mapping[str, Any]) -> Any:
        if "fixedDelayMilliseconds" in response:
            return response["fixedDelayMilliseconds"]
        distribution = response.get("delayDistribution")
        if distribution is None:
            return None
        if isinstance(distribution, Mapping) and distribution.get("type") == "uniform":
            return {"min": distribution.get("lower"), "max": distribution.get("upper")}
        if isinstance(distribution, Mapping) and distribution.get("type") == "fixed":
            return distribution.get("milliseconds")
        kind = distribution.get("type") if isinstance(distribution, Mapping) else distribution
        self.skip("response.delayDistribution", f"{kind!r}: not supported, no delay")
        return None


def _state(value: Any) -> str:
    return "started" if value == STARTED else str(value)
