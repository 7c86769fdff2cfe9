"""Templates render in a sandbox, fail loudly on unknown variables and escape HTML bodies."""

from __future__ import annotations

import pytest

from services.campaigns.domain.templates import (
    Rendered,
    TemplateError,
    merged_contact,
    preview,
    render,
    validate_template,
)

JANE = {"id": "c1", "email": "jane@example.com", "attributes": {"first_name": "Jane", "tier": "platinum"}}


def test_contact_attributes_are_merged_so_templates_read_them_directly() -> None:
    template = {"subject": "Hi {{ contact.first_name }}", "body": "{{ contact.tier }} / {{ event.amount }}"}

    assert render(template, {"contact": JANE, "event": {"amount": 12000}}) == Rendered(
        subject="Hi Jane", body="platinum / 12000", html=None
    )


def test_record_fields_win_over_attributes_of_the_same_name() -> None:
    contact = {"email": "jane@example.com", "attributes": {"email": "attacker@example.com"}}

    assert merged_contact(contact)["email"] == "jane@example.com"
    assert merged_contact(contact)["attributes"] == {"email": "attacker@example.com"}


def test_html_body_is_autoescaped_but_text_body_is_not() -> None:
    template = {"body": "Hello {{ contact.first_name }}", "html": "<p>Hello {{ contact.first_name }}</p>"}
    contact = {"attributes": {"first_name": "<b>Jo</b>"}}

    rendered = render(template, {"contact": contact})

    assert rendered.body == "Hello <b>Jo</b>"
    assert rendered.html == "<p>Hello &lt;b&gt;Jo&lt;/b&gt;</p>"


def test_unknown_variable_raises_a_clear_template_error() -> None:
    with pytest.raises(TemplateError, match="body: unknown variable.*nickname"):
        render({"body": "Hi {{ contact.nickname }}"}, {"contact": JANE})


def test_preview_renders_with_a_sample_contact_and_event() -> None:
    rendered = preview({"body": "{{ contact.first_name }} moved to {{ event.city }}"}, JANE, {"city": "Köln"})

    assert rendered.body == "Jane moved to Köln"


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ contact.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ ''.format.__self__ }}",
        "{{ lipsum.__globals__['os'].popen('id').read() }}",
        "{{ 'a' * 100000000 }}",
        "{{ 9 ** 999999 }}",
        "{% for i in range(10 ** 9) %}{% endfor %}",
    ],
)
def test_sandbox_escape_attempts_are_refused(source: str) -> None:
    with pytest.raises(TemplateError, match="not allowed|could not render|exceeds a bound"):
        render({"body": source}, {"contact": JANE, "event": {}})


def test_validate_template_reports_syntax_errors_with_line_numbers() -> None:
    problems = validate_template({"subject": "ok", "body": "line one\n{% if contact.tier %}no end"})

    assert len(problems) == 1
    assert problems[0].startswith("body: syntax error on line 2")


def test_validate_template_reports_unknown_top_level_variables_and_parts() -> None:
    problems = validate_template({"body": "{{ customer.name }}", "footer": "x"})

    assert "unknown template part 'footer'" in problems
    assert "body: unknown variable 'customer'; use 'contact' or 'event'" in problems


def test_validate_template_requires_a_body() -> None:
    assert validate_template({"subject": "only a subject"}) == ["a template needs a 'body' string"]
    assert validate_template({"body": "Hi {{ contact.first_name }}", "html": "<p>x</p>"}) == []


@pytest.mark.parametrize(("locale", "line"), [("en-GB", "Reply STOP to opt out"), ("de-AT", "Antworte STOP zum Abmelden"),
                                              (None, "Reply STOP to opt out"), ("fr", "Reply STOP to opt out")])
def test_an_sms_template_ends_with_the_opt_out_line_in_the_contacts_language(locale, line):
    template = {"body": "{{ contact.first_name }}, rates drop Friday. {{ opt_out }}"}
    assert validate_template(template) == []
    rendered = render(template, {"contact": {"first_name": "Ann", "locale": locale}})
    assert rendered.body == f"Ann, rates drop Friday. {line}"


def test_the_preference_and_unsubscribe_links_render_as_the_placeholders_channels_fills_in():
    template = {"body": "Choose: {{ preferences_url }}", "html": '<a href="{{ preferences_url }}">prefs</a> '
                                                                   '<a href="{{ unsubscribe_url }}">stop</a>'}
    assert validate_template(template) == []
    rendered = render(template, {"contact": {"first_name": "Ada"}})
    assert rendered.body == "Choose: $preferences_url"
    assert rendered.html == '<a href="$preferences_url">prefs</a> <a href="$unsubscribe_url">stop</a>'
