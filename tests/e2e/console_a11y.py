"""Accessibility and phone-width checks the console's browser tests run on every page they visit.

A small checker of our own (nothing downloaded, no third-party rules engine), run in the page:

- every visible input, select and textarea has a label (`<label for>`, a wrapping label,
  `aria-label` or `aria-labelledby`); every label's `for` names an element; ids are unique;
- images have `alt`; top-level SVGs have an accessible name (`aria-label` or `<title>`);
  links and buttons have a name;
- one `h1`, first; heading levels never skip going down; `<html lang>` and a `<title>`;
- no positive `tabindex`; every focusable element shows a focus indicator (outline or box-shadow
  at least 2 px) whose colour has 3:1 against what is behind it (WCAG 1.4.11);
- text contrast: the computed colour of every visible text (HTML and SVG, whose colour is its
  `fill` over the shape it sits on) against its composited background: 4.5:1, 3:1 for large text;
- keyboard order: Tab from the top reaches the skip link first, then the page's controls in
  document order (a scrollable box Chromium makes focusable may come in between; a radio group is
  one stop, its checked radio or else its first);
- at a phone's width (375 CSS px, emulated as a mobile viewport) nothing makes the page scroll
  sideways: wide tables and charts scroll or shrink inside their own box; SVG text (the journey
  graph, the charts) stays at least 9 px high instead of shrinking with its drawing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from tests.support import REPO

AUDIT = r"""
const problems = [];
const describe = el => el.outerHTML.slice(0, 140).replace(/\s+/g, ' ');
const visible = el => {
  const s = getComputedStyle(el); const r = el.getBoundingClientRect();
  return s.visibility !== 'hidden' && s.display !== 'none' && (r.width > 0 || r.height > 0);
};
const rgba = c => {
  const m = (c || '').match(/rgba?\(([^)]+)\)/); if (!m) return null;
  const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
  return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
};
const lum = ([r, g, b]) => {
  const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
};
const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
const over = (c, bg) => [0, 1, 2].map(i => c[i] * c[3] + bg[i] * (1 - c[3]));
const background = el => {
  const chain = []; for (let e = el; e; e = e.parentElement) chain.push(e);
  let bg = [255, 255, 255];
  for (const e of chain.reverse()) { const c = rgba(getComputedStyle(e).backgroundColor); if (c && c[3] > 0) bg = over(c, bg); }
  return bg;
};

for (const el of document.querySelectorAll('input, select, textarea')) {
  if (el.type === 'hidden' || !visible(el)) continue;
  const label = (el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`)) || el.closest('label');
  const named = (label && label.textContent.trim()) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
  if (!named) problems.push('control without a label: ' + describe(el));
}
for (const l of document.querySelectorAll('label[for]')) {
  if (!document.getElementById(l.htmlFor)) problems.push('label for a missing id: ' + describe(l));
}
const seen = new Set();
for (const el of document.querySelectorAll('[id]')) { if (seen.has(el.id)) problems.push('duplicate id ' + el.id); seen.add(el.id); }
for (const img of document.querySelectorAll('img')) if (!img.hasAttribute('alt')) problems.push('image without alt: ' + describe(img));
for (const svg of document.querySelectorAll('svg')) {
  if (svg.parentElement.closest('svg') || svg.getAttribute('aria-hidden') === 'true') continue;
  if (!(svg.getAttribute('aria-label') || svg.querySelector(':scope > title'))) problems.push('svg without a name: ' + describe(svg));
}
for (const el of document.querySelectorAll('a[href], button')) {
  if (!((el.textContent || '').trim() || el.getAttribute('aria-label') || el.title)) problems.push('unnamed ' + describe(el));
}
const levels = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].map(h => +h.tagName[1]);
if (levels.filter(l => l === 1).length !== 1 || levels[0] !== 1) problems.push('headings do not start with one h1: ' + levels);
for (let i = 1; i < levels.length; i++) if (levels[i] > levels[i - 1] + 1) problems.push(`h${levels[i]} follows h${levels[i - 1]}`);
if (!document.documentElement.lang) problems.push('no <html lang>');
if (!document.title.trim()) problems.push('no <title>');
for (const el of document.querySelectorAll('[tabindex]')) if (+el.getAttribute('tabindex') > 0) problems.push('positive tabindex: ' + describe(el));

for (const el of document.querySelectorAll('body *')) {
  const tag = el.tagName.toLowerCase();
  if (['option', 'title', 'script', 'style'].includes(tag) || !visible(el) || el.closest('.sr-only')) continue;
  if (![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
  const s = getComputedStyle(el);
  let fg, bg;
  if (el instanceof SVGElement) {
    fg = rgba(s.fill);
    bg = background(el.closest('svg').parentElement);
    const t = el.getBoundingClientRect(), cx = t.left + t.width / 2, cy = t.top + t.height / 2;
    const shape = [...el.parentElement.querySelectorAll(':scope > rect')].find(r => {
      const b = r.getBoundingClientRect(); return cx >= b.left && cx <= b.right && cy >= b.top && cy <= b.bottom; });
    const fill = shape && rgba(getComputedStyle(shape).fill);
    if (fill && fill[3] > 0) bg = over(fill, bg);
  } else {
    fg = rgba(s.color); bg = background(el);
  }
  if (!fg) continue;
  const size = parseFloat(s.fontSize), bold = +s.fontWeight >= 700;
  const needed = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
  const r = ratio(over(fg, bg), bg);
  if (r < needed) problems.push(`contrast ${r.toFixed(2)} < ${needed}: ${tag}.${el.getAttribute('class') || ''} ` +
                                `"${el.textContent.trim().slice(0, 30)}" ${s.color || s.fill} on rgb(${bg.map(Math.round)})`);
}

const focusable = [...document.querySelectorAll('a[href], button, input, select, textarea, summary, [tabindex]')]
  .filter(el => el.type !== 'hidden' && !el.disabled && el.getAttribute('tabindex') !== '-1' &&
                (visible(el) || el.classList.contains('skip')));
// A radio group is one Tab stop (its checked radio, else its first); arrow keys move inside it.
const tabStop = el => {
  if (el.type !== 'radio' || !el.name) return true;
  const group = focusable.filter(r => r.type === 'radio' && r.name === el.name && r.form === el.form);
  return el === (group.find(r => r.checked) || group[0]);
};
const stops = focusable.filter(tabStop);
stops.forEach((el, i) => { el.dataset.a11yOrder = i; });
// Only the stops are focused here: Chromium remembers a group's last focused radio as its next stop.
for (const el of stops) {
  el.focus();
  if (document.activeElement !== el) continue;
  const s = getComputedStyle(el);
  const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2;
  const shadow = s.boxShadow && s.boxShadow !== 'none';
  if (!outline && !shadow) { problems.push('no visible focus: ' + describe(el)); continue; }
  const ring = rgba(outline ? s.outlineColor : s.boxShadow);
  const behind = background(el.parentElement);
  if (ring && ratio(over(ring, behind), behind) < 3) problems.push(`focus ring contrast ${ratio(over(ring, behind), behind).toFixed(2)} < 3: ` + describe(el));
}
if (document.activeElement) document.activeElement.blur();
window.scrollTo(0, 0);
return [problems, stops.length];
"""

OVERFLOW = r"""
const width = document.documentElement.clientWidth;
const offenders = [];
if (document.documentElement.scrollWidth > width + 1) offenders.push('page scrolls sideways: ' + document.documentElement.scrollWidth + ' > ' + width);
const clipped = el => { for (let e = el.parentElement; e && e !== document.body; e = e.parentElement) {
  const o = getComputedStyle(e).overflowX; if (o === 'auto' || o === 'scroll' || o === 'hidden') return true; } return false; };
for (const el of document.querySelectorAll('main *, header *')) {
  const r = el.getBoundingClientRect();
  if (r.width && r.right > width + 1 && !clipped(el) && !el.classList.contains('skip')) {
    offenders.push(el.tagName.toLowerCase() + '.' + (el.getAttribute('class') || '') + ' ends at ' + Math.round(r.right));
  }
}
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  if (!node.textContent.trim() || !node.parentElement || clipped(node)) continue;
  const range = document.createRange(); range.selectNodeContents(node);
  const r = range.getBoundingClientRect();
  if (r.width && r.right > width + 1 && !node.parentElement.closest('.skip, .sr-only, [hidden]')) {
    offenders.push('text "' + node.textContent.trim().slice(0, 40) + '" ends at ' + Math.round(r.right));
  }
}
for (const t of document.querySelectorAll('svg text')) {  // drawn text must not shrink to a speck on a phone
  const r = t.getBoundingClientRect();
  if (r.height && r.height < 9) offenders.push('svg text "' + t.textContent.trim().slice(0, 30) + '" is ' + r.height.toFixed(1) + ' px high');
}
return [width, offenders.slice(0, 10)];
"""


def audit(browser: Any) -> None:
    """Assert the page passes the checks above (labels, names, headings, contrast, focus, order)."""
    problems, count = browser.execute_script(AUDIT)
    problems.extend(_keyboard_order(browser, min(count, 25)))
    assert not problems, f"{browser.current_url}:\n" + "\n".join(problems)


def _keyboard_order(browser: Any, presses: int) -> list[str]:
    """Tab from the top of the page: the skip link first, then controls in document order."""
    browser.execute_script("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);"
                           "document.body.setAttribute('tabindex', '-1'); document.body.focus();"
                           "document.body.removeAttribute('tabindex');")
    reached = []
    for _ in range(presses):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        order = browser.execute_script("return document.activeElement && document.activeElement.dataset.a11yOrder")
        if order is not None:
            reached.append(int(order))
    problems = []
    if not reached or reached[0] != 0 or "skip" not in (browser.execute_script(
            "return document.querySelector('[data-a11y-order=\"0\"]').className") or ""):
        problems.append(f"Tab does not reach the skip link first (reached {reached[:5]})")
    if reached != list(range(len(reached))):
        problems.append(f"Tab order is not document order: {reached}")
    browser.execute_script("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    return problems


def fits_a_phone(browser: Any, name: str | None = None) -> None:
    """At 375 CSS px (a mobile viewport) nothing scrolls sideways; keep a screenshot when asked."""
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 375, "height": 812, "deviceScaleFactor": 1, "mobile": True})
    try:
        width, offenders = browser.execute_script(OVERFLOW)
        target = os.environ.get("CONSOLE_SCREENSHOTS")
        if target and name:
            directory = Path(target) if Path(target).is_absolute() else REPO / target
            directory.mkdir(parents=True, exist_ok=True)
            browser.save_screenshot(str(directory / f"phone-{name}.png"))
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert width == 375, width
    assert not offenders, f"{browser.current_url} at 375 px:\n" + "\n".join(offenders)


def check_page(browser: Any, name: str | None = None) -> None:
    """Both checks on the page the browser shows."""
    audit(browser)
    fits_a_phone(browser, name)
