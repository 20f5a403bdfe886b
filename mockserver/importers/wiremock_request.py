"""WireMock request patterns -> stub request matchers (the request half of `wiremock`).

`url`/`urlPath`/`urlPathTemplate`/`urlPattern`/`urlPathPattern`, `queryParameters`, `headers`,
`cookies`, `formParameters`, `basicAuthCredentials` and `bodyPatterns` become the closest
matchers; a field with no counterpart, or a credential (never written: matched as
`{present: true}`), is a `Problem` naming the file and the field. Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import parse_qsl

from mockserver.importers.exchanges import PRESENT, json_body_matcher
from mockserver.importers.report import Problems
from mockserver.redaction import Redaction

_URL_FIELDS: Final = ("url", "urlPath", "urlPathTemplate", "urlPattern", "urlPathPattern")
_NAMED_GROUP: Final = re.compile(r"\(\?<(?![=!])")
_JSON_UNIT: Final = "${json-unit."


class RequestTranslation:
    """One mapping's request pattern; what does not translate is added to `problems`."""

    def __init__(self, source: str, entry: str, redaction: Redaction, problems: Problems) -> None:
        self.source, self.entry = source, entry
        self.redaction, self.problems = redaction, problems

    def skip(self, field: str, message: str) -> None:
        self.problems.add(self.source, self.entry + field, message)

    def request(self, request: Mapping[str, Any]) -> dict[str, Any]:
        matcher: dict[str, Any] = {}
        method = request.get("method")
        if isinstance(method, str) and method.upper() != "ANY":
            matcher["method"] = method
        self.url(request, matcher)
        for key, field in (("queryParameters", "query"), ("cookies", "cookies")):
            found = self.values(request.get(key), f"request.{key}")
            for name in found:
                if key == "queryParameters" and self.redaction.is_secret_query(name):
                    if found[name] != PRESENT:
                        self.skip(f"request.{key}.{name}", "a credential: matched as present")
                    found[name] = dict(PRESENT)
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
            values: dict[str, list[Any]] = {}
            for name, item in _query_pairs(query):
                values.setdefault(name, []).append(self.query_value(name, item, key))
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

    def query_value(self, name: str, value: str, key: str) -> Any:
        """A query value of `url`: a credential (by name or by look) is only present."""
        if self.redaction.is_secret_query(name) or self.redaction.text(value) != value:
            self.skip(
                f"request.{key}", f"{name}: a credential is never written: matched as present"
            )
            return dict(PRESENT)
        return value

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


_MODIFIERS: Final = frozenset({"caseInsensitive", "ignoreExtraElements", "ignoreArrayOrder"})


def _operator(spec: Mapping[str, Any]) -> str:
    """The matcher's operator: its first key that is not a modifier, whatever the key order."""
    return next((key for key in spec if key not in _MODIFIERS), next(iter(spec)))


def _literal(path: str) -> Any:
    return {"equals": path} if "{" in path or "}" in path else path


def _query_pairs(query: str) -> list[tuple[str, str]]:
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
