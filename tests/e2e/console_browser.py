"""Helpers of the console's browser tests: signing in, submitting forms and waiting for the next page."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.support import REPO

PAGE_SECONDS = 30


def submit(browser: Any, element: Any) -> None:
    """Click a control that sends a form or follows a link, and wait until the next page has replaced this one.

    A click returns as soon as the browser took it; reading the page right after may still read the
    old one on a busy machine, so wait until the old document is gone and the new one is complete.
    """
    old = browser.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(browser, PAGE_SECONDS).until(lambda _: _gone(old))
    WebDriverWait(browser, PAGE_SECONDS).until(
        lambda b: b.execute_script("return document.readyState") == "complete")


def _gone(element: Any) -> bool:
    """Whether `element` belongs to a page that has been replaced."""
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        # mid-navigation chromedriver may say so in its own words instead of "stale element"
        if "does not belong to the document" in str(exc) or "No node with given id" in str(exc):
            return True
        raise
    return False


def sign_in(browser: Any, console: str, key: str) -> None:
    """Sign in through the form, as a person does (signing out of any earlier session first)."""
    browser.delete_all_cookies()
    browser.get(console + "/sign-in")
    browser.find_element(By.ID, "api_key").send_keys(key)
    submit(browser, browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]"))
    assert "Sign out" in browser.page_source, browser.page_source[:3000]
    assert key not in browser.page_source  # the key never comes back in a page


def screenshot(browser: Any, name: str) -> None:
    """Keep a screenshot for the docs when CONSOLE_SCREENSHOTS names a directory."""
    target = os.environ.get("CONSOLE_SCREENSHOTS")
    if target:
        directory = Path(target) if Path(target).is_absolute() else REPO / target
        directory.mkdir(parents=True, exist_ok=True)
        # The window's height includes the browser's own frame (outer minus inner height), the page does not.
        height, frame = browser.execute_script(
            "return [Math.max(document.body.scrollHeight, document.documentElement.scrollHeight),"
            " window.outerHeight - window.innerHeight]")
        browser.set_window_size(1280, min(max(int(height) + int(frame), 800), 2400))
        browser.save_screenshot(str(directory / f"{name}.png"))
        browser.set_window_size(1280, 1000)
