"""Template renders are bounded in work, output, value sizes and depth; unsafe templates fail validation."""

from __future__ import annotations

import threading

import pytest

from services.campaigns.domain.template_bounds import BoundExceeded, Bounds, Budget, weight
from services.campaigns.domain.templates import TemplateError, render, validate_template

JANE = {"first_name": "Jane", "attributes": {"tier": "gold", "n": 10_000, "products": ["loan", "card"]}}
HOSTILE = {
    "nested loops": "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
    "filtered nested loops": "{% for i in range(10000) %}{% for j in range(10000) if j < 0 %}{% endfor %}"
                             "{% endfor %}",
    "loops over contact data": "{% for i in range(contact.n) %}{% for j in range(contact.n) %}{% endfor %}"
                               "{% endfor %}",
    "string times string size": "{{ ('x' * 10000) * 10000 }}",
    "list of big strings": "{{ (['x' * 10000] * 10000)|join }}",
    "big output in a loop": "{% set s = 'x' * 10000 %}{% for i in range(10000) %}{{ s }}{% endfor %}",
    "literal text in a loop": "{% for i in range(10000) %}" + "y" * 500 + "{% endfor %}",
    "output thrown away in a macro": "{% macro m() %}{% for i in range(5000) %}{{ 'x' * 9000 }}{% endfor %}"
                                     "{% endmacro %}{{ m()|length }}",
    "doubling with ~": "{% set ns = namespace(s='xx') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
                       "{% endfor %}{{ ns.s|length }}",
    "doubling with +": "{% set ns = namespace(s='xx') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}"
                       "{% endfor %}{{ ns.s|length }}",
    "big power": "{{ 7 ** 9999 }}",
    "squaring a number": "{% set ns = namespace(n=3) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}"
                         "{% endfor %}{{ ns.n > 0 }}",
    "printf width": "{{ '%0100000000d' % 1 }}",
    "format filter width": "{{ '%0100000000d'|format(1) }}",
    "format star width": "{{ '%*d'|format(100000000, 1) }}",
    "center": "{{ 'x'|center(100000000) }}",
    "ljust": "{{ 'x'.ljust(100000000) }}",
    "expandtabs": "{{ ('\t' * 10000).expandtabs(1000) }}",
    "list times n": "{{ contact.products * 100000 }}",
    "replace filter": "{{ ('x' * 10000)|replace('x', 'y' * 10000) }}",
    "replace method": "{{ ('x' * 10000).replace('x', 'y' * 10000) }}",
    "join separator": "{{ range(10000)|join('x' * 1000) }}",
    "join method": "{{ ('x' * 1000).join(range(10000)|map('string')) }}",
    "indent": "{{ ('a\\n' * 10000)|indent(500) }}",
    "wordwrap": "{{ ('a ' * 10000)|wordwrap(1, wrapstring='x' * 500) }}",
    "batch fill": "{{ [1]|batch(100000000, 'x')|list|length }}",
    "huge range": "{{ range(10 ** 9)|length }}",
    "lazy big sequence": "{{ range(10000)|map('center', 999)|list|length }}",
    "recursive macro": "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}",
    "str.format": "{{ '{:>100000000}'['format'](1) }}",
    "mutating a list": "{% set l = [] %}{% for i in range(10) %}{{ l.append(i) }}{% endfor %}",
}


@pytest.mark.parametrize("source", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_templates_fail_with_a_reason_instead_of_running_away(source: str) -> None:
    with pytest.raises(TemplateError, match=r"^body: (exceeds a bound|not allowed|could not render)"):
        render({"body": source}, {"contact": JANE, "event": {}})


def test_a_failed_render_leaves_nothing_behind_for_the_next_one() -> None:
    source = "{% for p in contact.products %}{{ p|upper }} {% endfor %}{{ contact.first_name }}"
    for _ in range(3):
        with pytest.raises(TemplateError):
            render({"body": HOSTILE["nested loops"]}, {"contact": JANE, "event": {}})
        assert render({"body": source}, {"contact": JANE, "event": {}}).body == "LOAN CARD Jane"


def test_budgets_are_per_thread() -> None:
    results: list[str] = []

    def work() -> None:
        body = "{% for i in range(2000) %}{{ i % 10 }}{% endfor %}"
        results.append(render({"body": body}, {"contact": JANE, "event": {}}).body)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["0123456789" * 200] * 4


def test_loops_walk_big_data_and_macros_return_big_text() -> None:
    contact = {**JANE, "items": ["x" * 1000] * 500}  # 500,000 characters: more than one value may hold
    body = "{% macro all() %}{% for i in contact['items'] %}{{ i }}{% endfor %}{% endmacro %}{{ all()|length }}"
    assert render({"body": body}, {"contact": contact, "event": {}}).body == "500000"


def test_ordinary_templates_still_work() -> None:
    template = {
        "subject": "{{ '%.2f'|format(event.amount) }} for {{ contact.first_name|title }}",
        "body": "{% macro line(p) %}- {{ p|capitalize }}\n{% endmacro %}{% for p in contact.products|sort %}"
                "{{ line(p) }}{% endfor %}{{ contact.tier ~ '!' }} {{ (contact.products|join(', ')) }}"
                "{{ ' ' * 3 }}{{ 2 ** 10 }} {{ range(3)|list }} {{ 'abc'.upper().center(7) }}",
        "html": "<p>{{ contact.first_name }}</p>{% for i in range(3) %}<br>{% endfor %}",
    }
    out = render(template, {"contact": JANE, "event": {"amount": 12.5}})
    assert out.subject == "12.50 for Jane"
    assert out.body == "- Card\n- Loan\ngold! loan, card   1024 [0, 1, 2]   ABC  "
    assert out.html == "<p>Jane</p><br><br><br>"


@pytest.mark.parametrize(("source", "named"), [
    ("{{ ''.__class__ }}", "'__class__'"),
    ("{{ contact|attr('__class__') }}", "'__class__'"),
    ("{{ contact['__class__'] }}", "'__class__'"),
    ("{{ contact._secret }}", "'_secret'"),
    ("{{ contact.mro }}", "'mro'"),
    ("{{ 'x'.format(1) }}", "'format'"),
    ("{% for x in contact.products recursive %}{% endfor %}", "recursive loops"),
    ("{% include 'other' %}", "include"),
    ("{% extends 'base' %}", "extends"),
    ("{% from 'x' import y %}", "import"),
])
def test_unsafe_templates_are_refused_by_validation(source: str, named: str) -> None:
    problems = validate_template({"body": source})
    assert any(p.startswith("body: not allowed in a template:") and named in p for p in problems), problems
    with pytest.raises(TemplateError, match="not allowed"):
        render({"body": source}, {"contact": JANE, "event": {}})


def test_budget_counts_steps_output_and_depth() -> None:
    budget = Budget(Bounds(max_steps=10, max_produced=5, max_depth=2), clock=lambda: 0.0)
    budget.charge_step(10)
    with pytest.raises(BoundExceeded, match="steps"):
        budget.charge_step()
    budget.charge_output(5)
    with pytest.raises(BoundExceeded, match="characters"):
        budget.charge_output(1)
    budget.enter()
    budget.enter()
    with pytest.raises(BoundExceeded, match="deeper than 2"):
        budget.enter()


def test_budget_checks_cpu_time_every_1024_steps() -> None:
    now = [0.0]
    budget = Budget(Bounds(max_cpu_seconds=1.0), clock=lambda: now[0])
    now[0] = 5.0
    budget.charge_step(1023)  # not checked yet: reading the clock on every step would cost more than the work
    with pytest.raises(BoundExceeded, match="CPU time"):
        budget.charge_step()


def test_operator_prechecks() -> None:
    budget = Budget(Bounds(max_value=100, max_int_bits=64, max_width=10))
    budget.multiply("ab", 50)
    budget.multiply(3, [1, 2])
    with pytest.raises(BoundExceeded):
        budget.multiply("ab", 51)
    with pytest.raises(BoundExceeded):
        budget.multiply(["x" * 50], 3)  # counts what the list holds, not just its length
    budget.power(2, 63)
    with pytest.raises(BoundExceeded):
        budget.power(2, 65)
    budget.power(1, 10**9)
    with pytest.raises(BoundExceeded):
        budget.multiply(2**40, 2**40)
    budget.add("a" * 50, "b" * 50)
    with pytest.raises(BoundExceeded):
        budget.add("a" * 50, "b" * 51)
    budget.modulo("%10s|%.3f|%%", ("x", 1.0))
    for fmt in ("%11s", "%.11f", "%*d", "%(name)99s"):
        with pytest.raises(BoundExceeded):
            budget.modulo(fmt, 1)


def test_weight_counts_deep_and_stops_early() -> None:
    assert weight("abc", 10) == 3
    assert weight({"a": ["bc", "d"]}, 100) == 1 + 1 + 2 + 2 + 1
    assert weight(["x" * 1000] * 1000, 50) == 51
    assert weight(range(7), 10) == 7


def test_guard_counts_items_and_their_size() -> None:
    budget = Budget(Bounds(max_value=10))
    assert list(budget.guard(["ab", "cd"])) == ["ab", "cd"]
    with pytest.raises(BoundExceeded, match="sequence"):
        list(budget.guard(iter(["abcd"] * 3)))
