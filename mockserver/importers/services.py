"""Which service an upstream host belongs to: `--service NAME=HOST`, else the host's name below
its public suffix (`api.stripe.com` -> `stripe`, `api.example.co.uk` -> `example`). Pure: no I/O.

The suffix rule is a short list of the common two-label public suffixes rather than the whole
Public Suffix List: a host it gets wrong is named with `--service`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

# Second-level labels under country codes that registries sell names below (co.uk, com.au...).
_SECOND_LEVEL: Final = frozenset({"co", "com", "net", "org", "gov", "edu", "ac", "ne", "or", "go"})
_NAME: Final = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_UNSAFE: Final = re.compile(r"[^a-z0-9]+")


def parse_service_option(value: str) -> tuple[str, str | None]:
    """`stripe=api.stripe.com` -> ("stripe", "api.stripe.com"); `stripe` -> ("stripe", None).

    Raises ValueError naming the value when the name could not be a path segment or stub id.
    """
    name, _, host = value.partition("=")
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"--service {value!r}: the name must be lower-case letters, digits, '_', '.' or '-' "
            "(it becomes the base path /NAME)"
        )
    return name, (host.strip().lower() or None) if host else None


def default_service(host: str) -> str:
    """The host's name below its public suffix, safe as a path segment.

    api.stripe.com -> stripe; api.example.co.uk -> example; localhost -> localhost;
    127.0.0.1 -> 127-0-0-1
    """
    labels = _below_suffix(host)
    return _safe(labels[-1]) if labels else "service"


def _below_suffix(host: str) -> list[str]:
    """api.example.co.uk -> [api, example]; 127.0.0.1 -> [127.0.0.1]; ::1 -> [ipv6-::1]"""
    host = host.lower().strip("[]").rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        labels = [label for label in host.split(".") if label]
        if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
            return labels[:-2]
        return labels[:-1] if len(labels) >= 2 else labels
    return [host] if address.version == 4 else [f"ipv6-{host}"]


def _safe(name: str) -> str:
    return _UNSAFE.sub("-", name).strip("-") or "service"


@dataclass(frozen=True, slots=True)
class ServiceNames:
    """Host -> service name: the `--service` choices first, then the default rule; hosts whose
    default names collide are told apart by their other labels (api-github, uploads-github)."""

    chosen: Mapping[str, str]
    rest: str | None = None  # `--service NAME` without a host: every host not named otherwise

    def names(self, hosts: Iterable[str]) -> dict[str, str]:
        """A name for each host (a host with its port, or without, as `--service` gave it)."""
        wanted = sorted(set(hosts))
        named: dict[str, str] = {}
        defaults: dict[str, list[str]] = {}
        for host in wanted:
            chosen = (
                self.chosen.get(host.lower()) or self.chosen.get(_without_port(host)) or self.rest
            )
            if chosen is not None:
                named[host] = chosen
            else:
                defaults.setdefault(default_service(_without_port(host)), []).append(host)
        taken = set(named.values())
        for name, group in defaults.items():
            bare = {_without_port(host) for host in group}
            if len(bare) == 1 and name not in taken:
                named.update(dict.fromkeys(group, name))
                continue
            for host in group:  # colliding: the other labels tell them apart (api-github)
                named[host] = _safe("-".join(_below_suffix(_without_port(host))))
        return named


def _without_port(host: str) -> str:
    host = host.lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    name, _, port = host.rpartition(":")
    return name if name and port.isdigit() else host
