"""Plan: turns what selection found into an answer and the outcome the journal records.

The one place that picks a stub's response by its hit count, renders templates, explains a miss
with its near misses, and chooses the kind of answer (see `answers`). Nothing is sent here and
nothing is recorded: the request path records the outcome once, then sends the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from mockserver.answers import Answer, Faulted, Fixed, Proxied, Replied, Streamed
from mockserver.clock import ClockSetting
from mockserver.errors import TemplateError
from mockserver.exchange import Outcome
from mockserver.incoming import IncomingRequest
from mockserver.nearmiss import stub_near_misses
from mockserver.proxy import forward_request
from mockserver.responder import (
    render_answer,
    stub_response,
    template_error_response,
    unmatched_explanation,
    unmatched_response,
)
from mockserver.store import Found, StubSet
from mockserver.stub import Stub
from mockserver.templating import template_context


@dataclass(slots=True)
class Plan:
    answer: Answer
    outcome: Outcome


def plan_answer(
    found: Found, request: IncomingRequest, stubs: StubSet, clock: ClockSetting
) -> Plan:
    """The answer to `request` given what `found` says (`stubs`: the set it was selected from,
    where an unmatched request's near misses are looked for; `clock`: what `now()` in its
    templates reads)."""
    stub = found.stub
    if stub is None or found.path_params is None:
        return _unmatched(found, request, stubs, clock)
    prepared = stub.response_for(found.hits)
    if prepared.fault is not None:
        return Plan(Faulted(prepared, prepared.fault), _matched(stub, None, fault=prepared.fault))
    if prepared.proxy is not None:  # the status comes with the upstream's head (Proxied.connect)
        forward = forward_request(request, prepared.proxy, stub.base_path)
        return Plan(Proxied(forward, prepared.delay_ms), _matched(stub, None))
    if prepared.stream is not None:
        return Plan(Streamed(prepared, prepared.stream), _matched(stub, prepared.status))
    templates = prepared.templates
    if templates is None:
        return Plan(Fixed(prepared, prepared.delay_ms), _matched(stub, prepared.status))
    context = template_context(request, found.path_params, found.hits, clock)
    try:
        rendered = render_answer(prepared, templates, context)
    except TemplateError as failure:
        reply = template_error_response(stub.id, failure)
        return Plan(
            Replied(reply), _matched(stub, reply.status, error=f"template: {failure.message}")
        )
    return Plan(Fixed(rendered, prepared.delay_ms), _matched(stub, rendered.status))


def _matched(
    stub: Stub, status: int | None, *, error: str | None = None, fault: str | None = None
) -> Outcome:
    return Outcome(True, status, stub.id, stub.service, error=error, fault=fault)


def _unmatched(found: Found, request: IncomingRequest, stubs: StubSet, clock: ClockSetting) -> Plan:
    near = tuple(stub_near_misses(stubs, request, found.skipped))
    shaper = found.unmatched_answer
    if shaper is None:
        reply = unmatched_response(request, near)
        return Plan(Replied(reply), Outcome(False, reply.status, near_misses=near))
    # an `unmatched: true` stub shapes the answer as the service's SDK expects an error, with
    # the explanation in `miss` for its templates; the request stays unmatched
    prepared = shaper.response_for(0)
    templates = prepared.templates
    if templates is None:
        reply = stub_response(prepared)
    else:
        context = template_context(request, {}, found.hits, clock)
        context["miss"] = unmatched_explanation(request, near)
        try:
            reply = stub_response(render_answer(prepared, templates, context))
        except TemplateError as failure:
            reply = template_error_response(shaper.id, failure)
    return Plan(Replied(reply, prepared), Outcome(False, reply.status, near_misses=near))
