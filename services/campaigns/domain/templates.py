"""Message templates: Jinja2 in a bounded sandbox, strict about unknown variables, escaping HTML bodies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, meta
from jinja2.exceptions import SecurityError, TemplateRuntimeError, UndefinedError

from services.campaigns.domain.template_bounds import BoundExceeded, Bounds, Budget
from services.campaigns.domain.templates_sandbox import CURRENT, BoundedSandbox, unsafe_constructs

# The parts of a template and whether each is HTML (autoescaped).
PARTS: dict[str, bool] = {"subject": False, "body": False, "html": True}
VARIABLES = frozenset({"contact", "event", "opt_out", "preferences_url", "unsubscribe_url"})
# `{{ opt_out }}`: the short opt-out line an SMS template ends with, in the contact's language. The
# words match what channels' inbound-SMS webhook takes as a stop (STOP, and its synonyms).
OPT_OUT_LINES = {"en": "Reply STOP to opt out", "de": "Antworte STOP zum Abmelden"}
# `{{ preferences_url }}` / `{{ unsubscribe_url }}`: the contact's preference center and one-click
# links. Their signed token is minted per message by channels' email adapter, which holds the secret;
# here they render as the placeholders it fills in (docs/channels.md, "The preference link in the body").
LINK_PLACEHOLDERS = {"preferences_url": "$preferences_url", "unsubscribe_url": "$unsubscribe_url"}
BOUNDS = Bounds()  # per part of one message; documented in docs/campaigns.md


class TemplateError(ValueError):
    """A template could not be rendered; the message says why in the marketer's terms."""


@dataclass(frozen=True)
class Rendered:
    """A rendered message: optional subject, text body and optional HTML body."""

    subject: str | None
    body: str
    html: str | None = None


_TEXT = BoundedSandbox(undefined=StrictUndefined, autoescape=False)
_HTML = BoundedSandbox(undefined=StrictUndefined, autoescape=True)


def validate_template(template: Mapping[str, Any]) -> list[str]:
    """Return the problems of an inline template (syntax errors, unknown variables); empty means valid."""
    if not isinstance(template, Mapping):
        return ["a template must be an object with 'body' and optional 'subject' and 'html'"]
    problems = [f"unknown template part {key!r}" for key in template if key not in PARTS]
    if not isinstance(template.get("body"), str):
        problems.append("a template needs a 'body' string")
    for part, is_html in PARTS.items():
        source = template.get(part)
        if source is None or (part != "body" and not isinstance(source, str)):
            if source is not None:
                problems.append(f"{part}: must be a string")
            continue
        if not isinstance(source, str):
            continue
        env = _HTML if is_html else _TEXT
        try:
            tree = env.parse(source)
        except TemplateSyntaxError as exc:
            problems.append(f"{part}: syntax error on line {exc.lineno}: {exc.message}")
            continue
        for name in sorted(meta.find_undeclared_variables(tree) - VARIABLES):
            problems.append(f"{part}: unknown variable {name!r}; use 'contact' or 'event'")
        for construct in unsafe_constructs(tree):
            problems.append(f"{part}: not allowed in a template: {construct}")
    return problems


@lru_cache(maxsize=1024)
def _problems_of(parts: tuple[tuple[str, Any], ...]) -> tuple[str, ...]:
    # A broadcast renders the same few templates for every contact: check each once.
    return tuple(validate_template(dict(parts)))


@lru_cache(maxsize=1024)
def _compiled(part: str, source: str) -> Template:
    return (_HTML if PARTS[part] else _TEXT).from_string(source)


def render(template: Mapping[str, Any], variables: Mapping[str, Any]) -> Rendered:
    """Render an inline template with `contact` and `event`; raise TemplateError on any failure."""
    try:
        problems: list[str] | tuple[str, ...] = (
            _problems_of(tuple(template.items())) if isinstance(template, Mapping) else validate_template(template)
        )
    except TypeError:  # an unhashable part cannot be valid; let validation say why
        problems = validate_template(template)
    if problems:
        raise TemplateError("; ".join(problems))
    contact = variables.get("contact") or {}
    context = {
        "contact": merged_contact(contact),
        "event": variables.get("event") or {},
        "opt_out": opt_out_line(contact.get("locale") if isinstance(contact, Mapping) else None),
        **LINK_PLACEHOLDERS,
    }
    out = {
        part: _render_part(part, template[part], context) for part in PARTS if template.get(part) is not None
    }
    return Rendered(subject=out.get("subject"), body=out["body"], html=out.get("html"))


def opt_out_line(locale: Any) -> str:
    """The opt-out line for a contact's locale (`de-AT` → German); English for any other or none."""
    language = locale.split("-")[0].split("_")[0].lower() if isinstance(locale, str) else ""
    return OPT_OUT_LINES.get(language, OPT_OUT_LINES["en"])


def preview(
    template: Mapping[str, Any],
    sample_contact: Mapping[str, Any],
    sample_event: Mapping[str, Any] | None = None,
) -> Rendered:
    """Render a template for a sample contact and event, as the marketer's preview shows it."""
    return render(template, {"contact": sample_contact, "event": sample_event or {}})


def merged_contact(contact: Mapping[str, Any]) -> dict[str, Any]:
    """Return the contact with its `attributes` lifted to the top, so `contact.tier` works.

    Record fields win over attributes of the same name: an attribute called 'email' must
    not change the address a template shows. The attributes stay reachable as
    `contact.attributes`.
    """
    attributes = contact.get("attributes")
    merged = dict(attributes) if isinstance(attributes, Mapping) else {}
    merged.update(contact)
    return merged


def _render_part(part: str, source: str, context: Mapping[str, Any], bounds: Bounds = BOUNDS) -> str:
    """Render one part within `bounds`, streaming so an oversized output stops as soon as it is too long."""
    token = CURRENT.set(Budget(bounds))
    try:
        chunks, size = [], 0
        for chunk in _compiled(part, source).generate(context):
            size += len(chunk)
            if size > bounds.max_output:
                raise BoundExceeded(f"output longer than {bounds.max_output:,} characters")
            chunks.append(chunk)
        return "".join(chunks)
    except BoundExceeded as exc:
        raise TemplateError(f"{part}: exceeds a bound: {exc}") from exc
    except (RecursionError, MemoryError) as exc:  # last lines of defence; the bounds should come first
        raise TemplateError(f"{part}: exceeds a bound: {exc.__class__.__name__}") from exc
    except SecurityError as exc:
        raise TemplateError(f"{part}: not allowed in a template: {exc}") from exc
    except UndefinedError as exc:
        if "attribute '_" in (exc.message or ""):  # private attributes are how sandbox escapes begin
            raise TemplateError(f"{part}: not allowed in a template: {exc.message}") from exc
        raise TemplateError(f"{part}: unknown variable: {exc.message}") from exc
    except (TemplateRuntimeError, TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise TemplateError(f"{part}: could not render: {exc}") from exc
    finally:
        CURRENT.reset(token)
