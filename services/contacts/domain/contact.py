"""The rules of a contact's fields: normalisation of email, phone, locale, time zone and attributes.

Plain Python: the API, the bulk import and the tests all call these, so an imported row and a
posted contact are held to exactly the same rules. Errors are values: `{field: message}`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

import phonenumbers

from shared.addresses import normalize_email, normalize_phone  # the rules every service shares

# The keys that identify one person: external_id over every contact, email and phone over live ones.
UNIQUE_KEYS = ("external_id", "email", "phone")
CONTACT_FIELDS = ("external_id", "email", "phone", "first_name", "last_name", "locale", "time_zone")
# Attribute keys must be addressable in the filter language and must not hide behind a column.
RESERVED_ATTRIBUTE_KEYS = frozenset(CONTACT_FIELDS) | {"id", "contact_id", "attributes", "created_at",
                                                        "updated_at", "erased_at", "consent", "event",
                                                        "contact"}
ATTRIBUTE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_ATTRIBUTE_KEYS = 100
MAX_ATTRIBUTES_BYTES = 16_384
MAX_ATTRIBUTES_DEPTH = 4
LOCALE = re.compile(r"^([A-Za-z]{2,3})(?:[-_]([A-Za-z]{4}))?(?:[-_]([A-Za-z]{2}|[0-9]{3}))?$")
MAX_LENGTHS = {"external_id": 128, "first_name": 200, "last_name": 200}


class KeyTaken(Exception):
    """Another contact holds a unique key (`field`): one person, one profile."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} is already used by another contact")
        self.field = field


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def normalize_locale(text: str) -> str:
    """A BCP-47-ish tag in canonical case: language-Script-REGION (`en-GB`, `zh-Hant-TW`)."""
    match = LOCALE.match(text.strip())
    if not match:
        raise ValueError("locale must look like 'en', 'en-GB' or 'zh-Hant-TW'")
    language, script, region = match.groups()
    parts = [language.lower()]
    if script:
        parts.append(script.title())
    if region:
        parts.append(region.upper())
    return "-".join(parts)


def normalize_time_zone(text: str) -> str:
    """An IANA time zone name known to zoneinfo."""
    name = text.strip()
    if name not in _zones():
        raise ValueError(f"unknown IANA time zone {name!r} (e.g. 'Europe/London')")
    return name


def is_valid_region(region: str) -> bool:
    """Whether `region` is a region code phonenumbers knows (GB, US, DE, ...)."""
    return region.upper() in phonenumbers.SUPPORTED_REGIONS


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def attribute_errors(attributes: Any) -> str | None:
    """Why `attributes` is not acceptable, or None (object, bounded keys, size and depth)."""
    if not isinstance(attributes, dict):
        return "attributes must be a JSON object"
    if len(attributes) > MAX_ATTRIBUTE_KEYS:
        return f"at most {MAX_ATTRIBUTE_KEYS} attributes"
    for key in attributes:
        if not ATTRIBUTE_KEY.match(key):
            return f"attribute name {key[:70]!r} must match {ATTRIBUTE_KEY.pattern}"
        if key in RESERVED_ATTRIBUTE_KEYS:
            return f"attribute name {key!r} is reserved (it is a contact field)"
    if _depth(attributes) > MAX_ATTRIBUTES_DEPTH:
        return f"attributes may nest at most {MAX_ATTRIBUTES_DEPTH} levels"
    if len(json.dumps(attributes, separators=(",", ":"))) > MAX_ATTRIBUTES_BYTES:
        return f"attributes may take at most {MAX_ATTRIBUTES_BYTES} bytes as JSON"
    return None


@dataclass
class Normalized:
    """The outcome of normalising one contact's fields: clean values, or errors by field."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


_NORMALIZERS = {"email": normalize_email, "locale": normalize_locale, "time_zone": normalize_time_zone}


def normalize_contact(raw: Mapping[str, Any], phone_region: str | None = None) -> Normalized:
    """Normalise the contact fields present in `raw`; None or '' clears a field (except attributes)."""
    out = Normalized()
    if phone_region is not None and not is_valid_region(phone_region):
        out.errors["phone_region"] = f"unknown region code {phone_region!r} (e.g. 'GB')"
        phone_region = None
    for name in CONTACT_FIELDS:
        if name not in raw:
            continue
        value = raw[name]
        if value is None or (isinstance(value, str) and not value.strip()):
            out.values[name] = None
            continue
        if not isinstance(value, str):
            out.errors[name] = "must be a string"
            continue
        try:
            if name == "phone":
                out.values[name] = normalize_phone(value, phone_region)
            elif name in _NORMALIZERS:
                out.values[name] = _NORMALIZERS[name](value)
            else:
                value = value.strip()
                if len(value) > MAX_LENGTHS[name]:
                    raise ValueError(f"at most {MAX_LENGTHS[name]} characters")
                out.values[name] = value
        except ValueError as exc:
            out.errors[name] = str(exc)
    if "attributes" in raw:
        problem = attribute_errors(raw["attributes"])
        if problem:
            out.errors["attributes"] = problem
        else:
            out.values["attributes"] = dict(raw["attributes"])
    return out
