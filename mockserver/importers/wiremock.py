"""WireMock mappings (a `mappings/` directory of JSON files, with `__files/` beside it) ->
drafted stubs with the closest matchers. Pure but for reading the mapping and body files.

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

from mockserver.importers.exchanges import HOP_BY_HOP, PRESENT, json_body_matcher
from mockserver.importers.output import Draft, DraftResponse, slug
from mockserver.importers.report import InputError, Problems
from mockserver.redaction import Redaction

_FAULTS: Final = {
    "CONNECTION_RESET_BY_PEER": "connection_reset",
    "EMPTY_RESPONSE": "empty_response",
    "MALFORMED_RESPONSE_CHUNK": "malformed_response",
    "RANDOM_DATA_THEN_CLOSE": "malformed_response",
}
_URL_FIELDS: Final = ("url", "urlPath", "urlPathTemplate", "urlPattern", "urlPathPattern")
_IGNORED_MAPPING: Final = frozenset({"id", "uuid", "persistent", "metadata", "insertionIndex"})
_SENT_BY_SERVER: Final = HOP_BY_HOP | {"content-length"}  # the HTTP layer frames answers
_NAMED_GROUP: Final = re.compile(r"\(\?<(?![=!])")
_JSON_UNIT: Final = "${json-unit."
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
        return Draft(service, name, self.request(request), [answer], [origin], extra)

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

    # --- request ---------------------------------------------------------------------------

    def request(self, request: Mapping[str, Any]) -> dict[str, Any]:
        matcher: dict[str, Any] = {}
        method = request.get("method")
        if isinstance(method, str) and method.upper() != "ANY":
            matcher["method"] = method
        self.url(request, matcher)
        for key, field in (("queryParameters", "query"), ("cookies", "cookies")):
            found = self.values(request.get(key), f"request.{key}")
            if found:
                matcher.setdefault(field, {}).update(found)
        headers = self.headers(request)
        if headers:
            matcher["headers"] = headers
        body = self.body(request)
        if body:
            matcher["body"] = body
        handled = {"method", *_URL_FIELDS, "queryParameters", "cookies", "headers"}
        handled |= {"basicAuthCredentials", "bodyPatterns", "formParameters"}
        for key in request:
            if key not in handled:
                self.skip(f"request.{key}", "not supported")
        return matcher

    def url(self, request: Mapping[str, Any], matcher: dict[str, Any]) -> None:
        given = [key for key in _URL_FIELDS if key in request]
        for extra in given[1:]:
            self.skip(f"request.{extra}", f"only one URL matcher applies ({given[0]} is used)")
        if not given:
            return
        key = given[0]
        value = request[key]
        if not isinstance(value, str) or not value.startswith("/"):
            self.skip(f"request.{key}", f"{value!r} is not a path: ignored")
            return
        if key == "url":
            path, _, query = value.partition("?")
            matcher["path"] = _literal(path)
            values: dict[str, list[str]] = {}
            for name, item in _query_pairs(query):
                values.setdefault(name, []).append(item)
            if values:
                matcher["query"] = {
                    name: found[0] if len(found) == 1 else found for name, found in values.items()
                }
        elif key == "urlPath":
            matcher["path"] = _literal(value)
        elif key == "urlPathTemplate":
            matcher["path"] = value
        else:
            if key == "urlPattern" and ("\\?" in value or "[?]" in value):
                self.skip(
                    f"request.{key}",
                    f"{value!r} matches the query string too: not supported",
                )
                return
            pattern = self.regex(value, f"request.{key}")
            if pattern is not None:
                matcher["path"] = {"matches": pattern}

    def headers(self, request: Mapping[str, Any]) -> dict[str, Any]:
        found = self.values(request.get("headers"), "request.headers")
        for name, value in list(found.items()):
            if self.redaction.is_secret_header(name) and value != {"present": False}:
                found[name] = PRESENT
                if value != PRESENT:
                    self.skip(
                        f"request.headers.{name}",
                        "a credential is never written: matched as {present: true}",
                    )
        if "basicAuthCredentials" in request:
            found["Authorization"] = PRESENT
            self.skip(
                "request.basicAuthCredentials",
                "a credential is never written: Authorization matched as {present: true}",
            )
        return found

    def values(self, value: Any, field: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.skip(field, "not an object: ignored")
            return {}
        matchers = {}
        for name, spec in value.items():
            matcher = self.value(spec, f"{field}.{name}")
            if matcher is not None:
                matchers[str(name)] = matcher
        return matchers

    def value(self, spec: Any, field: str) -> dict[str, Any] | None:
        """One WireMock string matcher -> a value matcher, or None (reported)."""
        if not isinstance(spec, Mapping) or not spec:
            self.skip(field, f"{spec!r} is not a matcher object")
            return None
        operator = _operator(spec)
        operand = spec[operator]
        for modifier in spec:
            if modifier not in (operator, "caseInsensitive"):
                self.skip(f"{field}.{modifier}", "not supported: ignored")
        if isinstance(operand, str) and self.redaction.text(operand) != operand:
            self.skip(
                f"{field}.{operator}", "a credential is never written: matched as {present: true}"
            )
            return dict(PRESENT)
        if operator == "equalTo":
            if spec.get("caseInsensitive") is True:
                return {"matches": "(?i)" + re.escape(str(operand))}
            return {"equals": str(operand)}
        if operator in ("contains", "doesNotContain"):
            found: dict[str, Any] = {"contains": str(operand)}
            return found if operator == "contains" else {"not": found}
        if operator in ("matches", "doesNotMatch"):
            pattern = self.regex(str(operand), f"{field}.{operator}")
            if pattern is None:
                return None
            return {"matches": pattern} if operator == "matches" else {"not": {"matches": pattern}}
        if operator == "absent":
            return {"present": operand is not True}
        if operator in ("or", "and", "hasExactly", "includes") and isinstance(operand, list):
            inner = [
                self.value(item, f"{field}.{operator}[{index}]")
                for index, item in enumerate(operand)
            ]
            if any(item is None for item in inner):
                return None
            return {"any_of" if operator == "or" else "all_of": inner}
        self.skip(f"{field}.{operator}", "not supported")
        return None

    def regex(self, pattern: str, field: str) -> str | None:
        """A Java regular expression as Python's `re` reads it (named groups respelt)."""
        converted = _NAMED_GROUP.sub("(?P<", pattern)
        try:
            re.compile(converted)
        except re.error as error:
            self.skip(field, f"{pattern!r} is not a regular expression Python reads: {error}")
            return None
        return converted

    def body(self, request: Mapping[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        form = self.values(request.get("formParameters"), "request.formParameters")
        if form:
            body["form"] = form
        patterns = request.get("bodyPatterns") or []
        if not isinstance(patterns, list):
            self.skip("request.bodyPatterns", "not a list: ignored")
            return body
        for index, pattern in enumerate(patterns):
            field = f"request.bodyPatterns[{index}]"
            if not isinstance(pattern, Mapping) or not pattern:
                self.skip(field, "not a matcher object: ignored")
                continue
            self.body_pattern(pattern, field, body)
        return body

    def body_pattern(self, pattern: Mapping[str, Any], field: str, body: dict[str, Any]) -> None:
        operator = _operator(pattern)
        operand = pattern[operator]
        secret = isinstance(operand, str) and self.redaction.text(operand) != operand
        if secret and operator != "equalToJson":  # JSON: its members are matched as present
            self.skip(f"{field}.{operator}", "holds a credential, never written: not matched")
            return
        modifiers = {"equalToJson": ("ignoreExtraElements", "ignoreArrayOrder")}
        for modifier in pattern:
            allowed = (operator, "caseInsensitive", *modifiers.get(operator, ()))
            if modifier not in allowed:
                self.skip(f"{field}.{modifier}", "not supported: ignored")
        kind, value = "", None
        if operator == "equalToJson":
            self.json_pattern(pattern, field, body)
            return
        if operator == "matchesJsonPath":
            self.json_path(operand, f"{field}.matchesJsonPath", body)
            return
        if operator == "absent" and operand is True:
            kind, value = "equals", ""
        elif operator == "equalTo" and pattern.get("caseInsensitive") is True:
            kind, value = "matches", "(?is)" + re.escape(str(operand))
        elif operator in ("equalTo", "contains"):
            kind, value = ("equals" if operator == "equalTo" else "contains"), str(operand)
        elif operator in ("matches", "doesNotMatch", "doesNotContain"):
            source = re.escape(str(operand)) if operator == "doesNotContain" else None
            regex = source or self.regex(str(operand), f"{field}.{operator}")
            if regex is None:
                return
            kind = "matches"
            value = {
                "matches": regex,
                "doesNotMatch": f"(?s)(?!(?:{regex})\\Z).*",
                "doesNotContain": f"(?s)(?!.*{regex}).*",
            }[operator]
        else:
            self.skip(f"{field}.{operator}", "not supported")
            return
        if kind in body:
            self.skip(f"{field}.{operator}", f"a second body '{kind}' matcher is not supported")
            return
        body[kind] = value

    def json_pattern(self, pattern: Mapping[str, Any], field: str, body: dict[str, Any]) -> None:
        operand = pattern["equalToJson"]
        if isinstance(operand, str):
            try:
                operand = json.loads(operand)
            except ValueError as error:
                self.skip(f"{field}.equalToJson", f"not JSON: {error}")
                return
        if pattern.get("ignoreArrayOrder") is True:
            self.skip(f"{field}.ignoreArrayOrder", "not supported: arrays match in order")
        redacted = self.redaction.json_value(operand)
        if redacted != operand:
            self.skip(
                f"{field}.equalToJson",
                "a credential is never written: its member is matched as {present: true}",
            )
        if _JSON_UNIT in json.dumps(operand):
            self.skip(f"{field}.equalToJson", "JsonUnit placeholders match as {present: true}")
        if "json" in body:
            self.skip(f"{field}.equalToJson", "a second JSON body matcher is not supported")
            return
        # members holding a credential or a JsonUnit placeholder are matched as present
        matcher = json_body_matcher(operand, _placeholders_out(redacted))
        body.update({"json": matcher["json"]} if "json" in matcher else {})
        for query, value in matcher.get("json_path", {}).items():
            body.setdefault("json_path", {})[query] = value

    def json_path(self, operand: Any, field: str, body: dict[str, Any]) -> None:
        if isinstance(operand, str):
            query, matcher = operand, dict(PRESENT)
        elif isinstance(operand, Mapping) and isinstance(operand.get("expression"), str):
            query = operand["expression"]
            rest = {key: value for key, value in operand.items() if key != "expression"}
            found = self.value(rest, field) if rest else dict(PRESENT)
            if found is None:
                return
            matcher = found
        else:
            self.skip(field, f"{operand!r} is not a JSONPath expression")
            return
        from jsonpath_rfc9535 import JSONPathError
        from jsonpath_rfc9535 import compile as compile_jsonpath

        try:
            compile_jsonpath(query)
        except JSONPathError as error:
            self.skip(field, f"{query!r} is not an RFC 9535 JSONPath: {error}")
            return
        paths = body.setdefault("json_path", {})
        if query in paths:
            self.skip(field, f"{query!r} is matched twice: the first is kept")
            return
        paths[query] = matcher

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


_MODIFIERS: Final = frozenset({"caseInsensitive", "ignoreExtraElements", "ignoreArrayOrder"})


def _operator(spec: Mapping[str, Any]) -> str:
    """The matcher's operator: its first key that is not a modifier, whatever the key order."""
    return next((key for key in spec if key not in _MODIFIERS), next(iter(spec)))


def _state(value: Any) -> str:
    return "started" if value == STARTED else str(value)


def _literal(path: str) -> Any:
    return {"equals": path} if "{" in path or "}" in path else path


def _query_pairs(query: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(query, keep_blank_values=True)


def _placeholders_out(value: Any) -> Any:
    """JsonUnit placeholders (`${json-unit.any-string}`) replaced, so the JSON matcher turns
    their members into `{present: true}`."""
    if isinstance(value, str) and value.startswith(_JSON_UNIT):
        return object()
    if isinstance(value, dict):
        return {key: _placeholders_out(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_placeholders_out(item) for item in value]
    return value
