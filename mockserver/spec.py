"""The stub format as strict pydantic models, and its JSON Schema.

This module owns what a stub file may say. Every model forbids unknown fields, so a misspelt
`heders:` fails as `request.heders` instead of silently matching everything. Shorthand (a scalar
meaning `equals`, a plain path string meaning a template) is normalised in `BeforeValidator`s
rather than typed as unions, so an error's path is what the user typed. Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

MATCHER_OPERATORS: Final = (
    "equals",
    "contains",
    "starts_with",
    "matches",
    "present",
    "not",
    "any_of",
    "all_of",
)
PATH_PARAM: Final = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
"""A `{name}` segment of a stub path template: "/v1/customers/{id}"."""
_METHOD_TOKEN: Final = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_STUB_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]*$")


class StrictModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True
    )


def as_text(value: object) -> object:
    """The text a YAML scalar would be sent as: `10` -> "10", `true` -> "true"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _compile_regex(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        return re.compile(value)
    except re.error as error:
        raise ValueError(f"invalid regular expression {value!r}: {error}") from None


Regex = Annotated[re.Pattern[str], BeforeValidator(_compile_regex, json_schema_input_type=str)]


def _scalar_means_equals(value: object) -> object:
    """`usd` -> {equals: usd}; `10` -> {equals: "10"}; `[a, b]` -> {all_of: [a, b]}."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {"all_of": value}
    if value is None:
        raise ValueError("null is not a matcher: use {present: false} for an absent value")
    return {"equals": as_text(value)}


class ValueMatcher(StrictModel):
    """One comparison on a text value (or on every value of a repeated parameter).

    Exactly one operator is set. Over a parameter sent several times, a matcher holds when any
    value satisfies it, `all_of` holds when each of its matchers is satisfied by some value, and
    `not` holds when its matcher does not (`not: {equals: "1"}`: no value is "1").
    """

    equals: str | None = None
    contains: str | None = None
    starts_with: str | None = None
    matches: Regex | None = None
    present: bool | None = None
    not_: Matcher | None = Field(default=None, alias="not")
    any_of: list[Matcher] | None = None
    all_of: list[Matcher] | None = None

    @model_validator(mode="before")
    @classmethod
    def _numbers_compare_as_text(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {
                key: as_text(value) if key in ("equals", "contains", "starts_with") else value
                for key, value in data.items()
            }
        return data

    @model_validator(mode="after")
    def _exactly_one_operator(self) -> ValueMatcher:
        given = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(given) != 1:
            names = ", ".join(MATCHER_OPERATORS)
            got = ", ".join(_alias(name) for name in given) or "none"
            raise ValueError(f"a value matcher takes exactly one of {names}; got {got}")
        return self


def _alias(name: str) -> str:
    return "not" if name == "not_" else name


Matcher = Annotated[
    ValueMatcher,
    BeforeValidator(
        _scalar_means_equals,
        json_schema_input_type=str | int | float | bool | list[Any] | ValueMatcher,
    ),
]
ValueMatcher.model_rebuild()


class PathMatcher(ValueMatcher):
    """A value matcher, or `template`: a literal path whose `{name}` segments are captured."""

    template: str | None = None

    @model_serializer(mode="wrap")
    def _template_as_written(self, handler: SerializerFunctionWrapHandler) -> Any:
        # `path: /v1/{id}` lists as written, not as {template: ...}
        if self.template is not None:
            return self.template
        return handler(self)

    @field_validator("template", "equals", "starts_with")
    @classmethod
    def _starts_with_slash(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"path {value!r} must start with '/'")
        return value

    @field_validator("template")
    @classmethod
    def _unique_parameters(cls, value: str | None) -> str | None:
        if value is not None:
            names = PATH_PARAM.findall(value)
            for name in names:
                if names.count(name) > 1:
                    raise ValueError(f"path parameter {{{name}}} appears twice in {value!r}")
        return value


def _path_shorthand(value: object) -> object:
    if isinstance(value, str):
        return {"template": value}
    return _scalar_means_equals(value)


PathField = Annotated[
    PathMatcher, BeforeValidator(_path_shorthand, json_schema_input_type=str | PathMatcher)
]


def _one_or_many_methods(value: object) -> object:
    return [value] if isinstance(value, str) else value


def _check_methods(value: tuple[str, ...]) -> tuple[str, ...]:
    for method in value:
        if not _METHOD_TOKEN.fullmatch(method):
            raise ValueError(f"{method!r} is not an HTTP method")
    if not value:
        raise ValueError("an empty list of methods matches nothing")
    return tuple(method.upper() for method in value)


Methods = Annotated[
    tuple[str, ...],
    BeforeValidator(_one_or_many_methods, json_schema_input_type=str | list[str]),
]


_PART_FIELDS: Final = frozenset(("filename", "content_type", "body"))


def _part_shorthand(value: object) -> object:
    """`field: x` (a value matcher) -> {body: x}; `{filename: .., body: ..}` stays (with a
    misspelt key beside them, to be named as unknown)."""
    if isinstance(value, dict) and _PART_FIELDS & set(value):
        return value
    return {"body": value}


class PartMatcher(StrictModel):
    """One part of a multipart body, by its field name: what its bytes say (as UTF-8 text), and
    for an upload its file name and Content-Type. Each given matcher must hold."""

    filename: Matcher | None = None
    content_type: Matcher | None = None
    body: Matcher | None = None


PartField = Annotated[
    PartMatcher,
    BeforeValidator(
        _part_shorthand,
        json_schema_input_type=str | int | float | bool | list[Any] | ValueMatcher | PartMatcher,
    ),
]


class BodyMatcher(StrictModel):
    """Every listed kind must hold."""

    json_: JsonValue = Field(default=None, alias="json")
    json_path: dict[str, Matcher] | None = None
    json_schema: dict[str, JsonValue] | None = None
    form: dict[str, Matcher] | None = None
    multipart: dict[str, PartField] | None = None
    """`multipart/form-data` parts by field name: `{note: hi, upload: {filename: a.csv}}`."""
    equals: str | None = None
    contains: str | None = None
    matches: Regex | None = None

    @field_validator("json_path")
    @classmethod
    def _valid_json_paths(cls, value: dict[str, ValueMatcher] | None) -> Any:
        if not value:
            return value
        # imported here: only stubs that use json_path pay for the library at start-up
        from jsonpath_rfc9535 import JSONPathError as jsonpath_error
        from jsonpath_rfc9535 import compile as compile_jsonpath

        for query in value or {}:
            try:
                compile_jsonpath(query)
            except jsonpath_error as error:
                raise ValueError(f"{query!r} is not an RFC 9535 JSONPath: {error}") from None
        return value

    @field_validator("json_schema")
    @classmethod
    def _valid_json_schema(cls, value: dict[str, JsonValue] | None) -> Any:
        if value is not None:
            import jsonschema  # only stubs that use json_schema pay for it at start-up

            try:
                jsonschema.validators.validator_for(value).check_schema(value)
            except jsonschema.exceptions.SchemaError as error:
                raise ValueError(f"not a valid JSON Schema: {error.message}") from None
        return value

    @property
    def has_json(self) -> bool:
        """`json: null` is a real expectation, so absence is read from the fields set."""
        return "json_" in self.model_fields_set


class RequestSpec(StrictModel):
    """Which requests a stub answers. Every field is optional; absent matches anything."""

    method: Methods | None = None
    path: PathField | None = None
    query: dict[str, Matcher] | None = None
    headers: dict[str, Matcher] | None = None
    cookies: dict[str, Matcher] | None = None
    body: BodyMatcher | None = None

    @field_validator("method")
    @classmethod
    def _methods(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else _check_methods(value)


def _header_value(value: object) -> object:
    """A scalar as the text it is sent as; a list as one text per line sent."""
    if isinstance(value, list):
        if not value:
            raise ValueError("an empty list sends no header: leave the header out")
        texts = [as_text(item) for item in value]
        if not all(isinstance(text, str) for text in texts):
            raise ValueError("a list of header values holds strings, numbers or booleans")
        return texts
    text = as_text(value)
    if not isinstance(text, str):
        raise ValueError("a header value is a string, number or boolean, or a list of them")
    return text


HeaderValue = Annotated[
    str | list[str],
    BeforeValidator(
        _header_value,
        json_schema_input_type=str | int | float | bool | list[str | int | float | bool],
    ),
]
"""A response header's value, or a list of them: `Set-Cookie: [a=1, b=2]` sends two lines."""


def header_lines(headers: dict[str, str | list[str]]) -> list[tuple[str, str]]:
    """A response's headers as the lines sent, in order: a list value gives a line per item."""
    return [
        (name, item)
        for name, value in headers.items()
        for item in (value if isinstance(value, list) else (value,))
    ]


class DelayRange(StrictModel):
    """A delay drawn uniformly from [min, max] milliseconds for each answer."""

    min: int = Field(ge=0, le=600_000)
    max: int = Field(ge=0, le=600_000)

    @model_validator(mode="after")
    def _ordered(self) -> DelayRange:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must not be below min ({self.min})")
        return self


Fault = Literal["connection_reset", "empty_response", "malformed_response"]


class SseEvent(StrictModel):
    """One server-sent event; `data` is JSON-encoded on one line unless it is a string."""

    id: str | None = None
    event: str | None = None
    retry: int | None = Field(default=None, ge=0)
    data: JsonValue = None

    @field_validator("id", "event")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        if value is not None and ("\n" in value or "\r" in value):
            raise ValueError(f"{value!r} must not contain line breaks")
        return value


class SseSpec(StrictModel):
    """A text/event-stream answer: the events in order, `interval_ms` apart, then the end."""

    events: list[SseEvent] = Field(min_length=1)
    interval_ms: int = Field(default=0, ge=0, le=600_000)


class ChunksSpec(StrictModel):
    """A chunked answer: each part flushed on its own, `interval_ms` apart."""

    parts: list[str] = Field(min_length=1)
    interval_ms: int = Field(default=0, ge=0, le=600_000)


def _delay_shorthand(value: object) -> object:
    """`120` -> {min: 120, max: 120}."""
    if isinstance(value, int) and not isinstance(value, bool):
        return {"min": value, "max": value}
    return value


Delay = Annotated[
    DelayRange, BeforeValidator(_delay_shorthand, json_schema_input_type=int | DelayRange)
]


def _final_status(value: object) -> object:
    """A 1xx status is an interim answer the HTTP layer sends itself (100-continue), never a
    stub's: a client would wait for the final one that never comes."""
    if isinstance(value, int) and not isinstance(value, bool) and 100 <= value < 200:
        raise ValueError(
            f"{value} is an interim (1xx) status that leaves the client waiting for a final "
            "answer: use 200-599"
        )
    return value


class ProxyHeaders(StrictModel):
    """What a proxied request's headers become: `add` sets (replacing what the client sent),
    `remove` drops (names compared case-insensitively)."""

    add: dict[str, HeaderValue] = Field(default_factory=dict)
    remove: list[str] = Field(default_factory=list)

    @field_validator("add")
    @classmethod
    def _no_line_breaks(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        for name, text in header_lines(value):
            if "\r" in text or "\n" in text or "\r" in name or "\n" in name:
                raise ValueError(f"header {name!r} must not contain line breaks")
        return value


def _upstream_url(value: object) -> object:
    if isinstance(value, str):
        scheme, _, rest = value.partition("://")
        if scheme.lower() not in ("http", "https") or not rest or rest.startswith("/"):
            raise ValueError(f"{value!r} is not an http:// or https:// URL with a host")
        if "?" in value or "#" in value:
            raise ValueError(f"{value!r}: the upstream URL takes no query or fragment")
    return value


UpstreamUrl = Annotated[str, BeforeValidator(_upstream_url)]


class ProxySpec(StrictModel):
    """Forward the request to `to` (joined with the path after the document's base_path) and
    answer with what the upstream answers, streamed through as it arrives."""

    to: UpstreamUrl
    headers: ProxyHeaders = Field(default_factory=ProxyHeaders)
    timeout_ms: int = Field(default=30_000, ge=1, le=600_000)
    """How long the upstream may take to send its answer's head (504 after), and then to send
    each part of its body (the stream is cut after)."""


_FIXED_RESPONSE_FIELDS: Final = frozenset({"status", "headers", "json_", "body", "body_file"})
_PLAIN_STUB_FIELDS: Final = frozenset(
    {"id", "description", "priority", "request", "response", "responses"}
)


class ResponseSpec(StrictModel):
    """One answer: status, headers, at most one body kind, and how it is delivered."""

    status: Annotated[int, BeforeValidator(_final_status)] = Field(default=200, ge=200, le=599)
    headers: dict[str, HeaderValue] = Field(default_factory=dict)
    json_: JsonValue = Field(default=None, alias="json")
    body: str | None = None
    body_file: str | None = None
    template: bool = False
    delay_ms: Delay | None = None
    fault: Fault | None = None
    sse: SseSpec | None = None
    chunks: ChunksSpec | None = None
    proxy: ProxySpec | None = None
    """Answer with what an upstream answers (PRODUCT.md §11)."""

    @model_validator(mode="after")
    def _one_body(self) -> ResponseSpec:
        given = [
            name
            for name, is_set in (
                ("json", self.has_json),
                ("body", self.body is not None),
                ("body_file", self.body_file is not None),
                ("sse", self.sse is not None),
                ("chunks", self.chunks is not None),
            )
            if is_set
        ]
        if len(given) > 1:
            raise ValueError(
                "a response takes at most one of json, body, body_file, sse, chunks; "
                f"got {', '.join(given)}"
            )
        if self.fault is not None and given:
            raise ValueError(f"a fault sends no body, but {given[0]} is given too")
        if self.template and self.body_file is not None:
            raise ValueError("template applies to headers, body and json, not to body_file")
        if self.proxy is not None:
            own = [name for name in ("status", "headers", "template", "fault") if name in
                   self.model_fields_set]  # fmt: skip
            if given or own:
                raise ValueError(
                    "a proxied response is the upstream's (status, headers and body): "
                    f"{(given + own)[0]} does not apply; proxy.headers changes what is sent"
                )
        return self

    @field_validator("headers")
    @classmethod
    def _no_line_breaks(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        for name, text in header_lines(value):
            if "\r" in text or "\n" in text or "\r" in name or "\n" in name:
                raise ValueError(f"header {name!r} must not contain line breaks")
        return value

    @property
    def is_fixed(self) -> bool:
        """Whether the answer is the same bytes every time, sent at once: it sets nothing but
        status, headers and a body. An allow-list: a field added to responses makes them not
        fixed (and off the request path's fast answers) until it is listed here."""
        return all(
            getattr(self, name) == info.get_default(call_default_factory=True)
            for name, info in type(self).model_fields.items()
            if name not in _FIXED_RESPONSE_FIELDS
        )

    @property
    def has_json(self) -> bool:
        return "json_" in self.model_fields_set


class ScenarioSpec(StrictModel):
    """A state machine step: match only in `state` (any when absent), then move to `set_state`."""

    name: str = Field(min_length=1)
    state: str | None = None
    set_state: str | None = None


# --- callbacks (webhooks the mock sends to the application, PRODUCT.md section 12) ---------


class RetrySpec(StrictModel):
    """Retries after the first delivery: `max: 3` -> at most 4 deliveries, `backoff_ms` doubled
    each time; after a connection error, a timeout, or a 5xx or 429 answer."""

    max: int = Field(default=0, ge=0, le=10)
    backoff_ms: int = Field(default=200, ge=0, le=60_000)


SignScheme = Literal["stripe", "github", "slack", "hmac"]
_HMAC_ONLY: Final = ("header", "prefix", "signed", "timestamp_header")


class SignSpec(StrictModel):
    """How a callback is signed: as Stripe, GitHub or Slack sign theirs, or a generic `hmac`
    (header, algorithm, encoding, prefix, and `signed`: a template of the text signed, with
    `body` and `timestamp`). `secret` may be a template (`{{ env.WEBHOOK_SECRET }}`)."""

    scheme: SignScheme
    secret: str = Field(min_length=1)
    header: str | None = None
    algorithm: Literal["sha256", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = ""
    signed: str | None = None
    timestamp_header: str | None = None

    @model_validator(mode="after")
    def _scheme_fields(self) -> SignSpec:
        if self.scheme == "hmac":
            if self.header is None:
                raise ValueError("the hmac scheme needs `header`: the header that carries it")
            return self
        given = [name for name in _HMAC_ONLY if getattr(self, name) not in (None, "")]
        if self.algorithm != "sha256" or self.encoding != "hex":
            given.append("algorithm" if self.algorithm != "sha256" else "encoding")
        if given:
            raise ValueError(
                f"{', '.join(given)} only apply to the hmac scheme; {self.scheme} signs as "
                "the provider does"
            )
        return self


class EventSpec(StrictModel):
    """A callback's request: method, headers, a body (`json` or `body`), its signature, when
    (`delay_ms` after the answer) and how often (`retries`, each attempt `timeout_ms` at
    most). A document's `events:` are these, sent by name with a URL given then."""

    url: str | None = Field(default=None, min_length=1)
    method: str = "POST"
    delay_ms: int = Field(default=0, ge=0, le=600_000)
    headers: dict[str, Annotated[str, BeforeValidator(as_text)]] = Field(default_factory=dict)
    json_: JsonValue = Field(default=None, alias="json")
    body: str | None = None
    sign: SignSpec | None = None
    retries: RetrySpec | None = None
    timeout_ms: int = Field(default=5000, ge=1, le=600_000)

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        return _check_methods((value,))[0]

    @field_validator("headers")
    @classmethod
    def _header_lines(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _METHOD_TOKEN.fullmatch(name) or "\r" in text or "\n" in text:
                raise ValueError(f"header {name!r}: a token name and a one-line value")
        return value

    @model_validator(mode="after")
    def _one_body(self) -> EventSpec:
        if self.has_json and self.body is not None:
            raise ValueError("a callback takes json or body, not both")
        return self

    @property
    def has_json(self) -> bool:
        return "json_" in self.model_fields_set


class CallbackSpec(EventSpec):
    """A callback a stub sends after its answer; templates see `request`, `response` (the
    answer sent: status, headers, json, body) and `env`."""

    url: str = Field(min_length=1)


class StubSpec(StrictModel):
    """One stub as written in a file or sent to the admin API."""

    id: str | None = None
    description: str | None = None
    priority: int = 5
    times: int | None = Field(default=None, ge=1)
    scenario: ScenarioSpec | None = None
    request: RequestSpec
    response: ResponseSpec | None = None
    responses: list[ResponseSpec] | None = Field(default=None, min_length=1)
    callbacks: list[CallbackSpec] | None = Field(default=None, min_length=1)
    """Requests sent to the application after the answer (webhooks)."""
    unmatched: bool = False
    """Answers only requests no other stub matched, which stay unmatched in the journal: a
    service's error shape for its SDK, with the explanation in the template variable `miss`."""

    @field_validator("id")
    @classmethod
    def _id_is_url_safe(cls, value: str | None) -> str | None:
        if value is not None and not _STUB_ID.fullmatch(value):
            raise ValueError(
                f"id {value!r} may hold only letters, digits and _ . : @ - "
                "(it appears in admin URLs)"
            )
        return value

    @model_validator(mode="after")
    def _response_or_sequence(self) -> StubSpec:
        if self.response is not None and self.responses is not None:
            raise ValueError("give response or responses (a sequence), not both")
        if self.unmatched and (
            self.responses is not None or self.times is not None or self.scenario is not None
        ):
            raise ValueError(
                "an 'unmatched: true' stub answers with one response: responses, times and "
                "scenario do not apply to it"
            )
        return self

    @model_validator(mode="after")
    def _unmatched_sends_no_callbacks(self) -> StubSpec:
        if self.unmatched and self.callbacks is not None:
            raise ValueError("an 'unmatched: true' stub shapes a miss: it sends no callbacks")
        return self

    @property
    def is_plain(self) -> bool:
        """Whether answering it needs no state beyond a hit count (which picks the response of
        a sequence): no scenario, no `times`, not an `unmatched` shaper. An allow-list, as
        `ResponseSpec.is_fixed`."""
        return all(
            getattr(self, name) == info.get_default(call_default_factory=True)
            for name, info in type(self).model_fields.items()
            if name not in _PLAIN_STUB_FIELDS
        )

    @property
    def answers(self) -> list[ResponseSpec]:
        """The responses in sequence order; a stub with neither answers 200 with no body."""
        if self.responses is not None:
            return self.responses
        return [self.response if self.response is not None else ResponseSpec()]


RECORD_MODES: Final = ("none", "once", "new_episodes", "all")
RecordMode = Literal["none", "once", "new_episodes", "all"]


class RecordSpec(StrictModel):
    """Record the document's service: what no stub matches goes to `target`, and the exchange
    is kept as a stub (PRODUCT.md §11). Modes as vcrpy's."""

    target: UpstreamUrl
    mode: RecordMode = "new_episodes"
    timeout_ms: int = Field(default=30_000, ge=1, le=600_000)
    """As a proxy's: the upstream's answer head within it (504 after)."""


class DocumentHeader(StrictModel):
    """A document's own fields; its stubs are validated one by one to report each error."""

    service: str | None = None
    base_path: str | None = None
    host: str | None = None
    cors: bool = False
    """Answer CORS preflights for this document's stubs and add CORS headers to their answers."""
    record: RecordSpec | None = None
    stubs: list[Any]
    events: dict[str, EventSpec] | None = None
    """Callbacks sent by name (`POST /__admin/callbacks {"event": "SERVICE/NAME"}`)."""

    @model_validator(mode="after")
    def _recorded_service_is_named(self) -> DocumentHeader:
        if self.record is not None and not self.service:
            raise ValueError("record needs the document's service (its recordings' name)")
        return self

    @field_validator("base_path")
    @classmethod
    def _base_path(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith("/"):
            raise ValueError(f"base_path {value!r} must start with '/'")
        return value.rstrip("/") or None

    @field_validator("events")
    @classmethod
    def _events_have_a_service(
        cls, value: dict[str, EventSpec] | None, info: ValidationInfo
    ) -> dict[str, EventSpec] | None:
        if value and info.data.get("service") is None:
            raise ValueError("events are named SERVICE/EVENT: the document needs `service`")
        return value


class StubDocument(DocumentHeader):
    """The whole document, for the JSON Schema only."""

    # built when a schema is first asked for, not at start-up (its docstring is in the schema)
    model_config = ConfigDict(defer_build=True)

    stubs: list[StubSpec]


def stub_file_schema() -> dict[str, Any]:
    """The JSON Schema of one document of a stub file (yaml-language-server reads it)."""
    from pydantic import TypeAdapter  # here: serving stubs never needs it

    adapter: TypeAdapter[Any] = TypeAdapter(list[StubSpec] | StubDocument)
    schema = adapter.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mockserver stub file"
    schema["description"] = "A list of stubs, or a document with service, base_path, host, stubs."
    return schema
