"""One JSON call to another service's API, for the clients campaigns keeps (segments, the gate's forecast).

Every failure (network, a status other than 200, a body that is not JSON) becomes the caller's own
"unavailable" error, so a consumer retries the message and an API view answers 503.
"""

from __future__ import annotations

from typing import Any

import requests


def json_answer(session: requests.Session, method: str, url: str, unavailable: type[Exception],
                timeout: float, **kwargs: Any) -> Any:
    """The decoded JSON of a 200 answer to `method url`; raises `unavailable` naming what went wrong."""
    try:
        response = getattr(session, method.lower())(url, timeout=timeout, **kwargs)
    except requests.RequestException as exc:
        raise unavailable(f"{method} {url} failed: {exc}") from exc
    if response.status_code != 200:
        raise unavailable(f"{method} {url} answered {response.status_code}: {response.text[:300]}")
    try:
        return response.json()
    except ValueError as exc:
        raise unavailable(f"{method} {url} answered non-JSON") from exc
