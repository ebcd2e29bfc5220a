"""`creditsync replay` through the running server: start it there, then follow its progress.

Taken when `creditsync run` owns the embedded ClickHouse (run.pid alive) and the target
includes ClickHouse (ops/replay_http.py says why the replay runs in that process).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from creditsync.operator_token import OperatorTokenRefused
from creditsync.ops.errors import OpsError

HTTP_TIMEOUT = 30.0
POLL_SECONDS = 0.5
PATH = "/v1/operator/replay"


class ReplayRefused(OpsError):
    """The running server refused or failed the replay (the message says why)."""


def _message(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or f"HTTP {response.status_code}"
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, dict):
        return str(detail.get("message") or detail)
    return str(detail)


def _call(method: str, url: str, token: str | None, **kw: Any) -> dict[str, Any]:
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.request(method, url, headers=headers, timeout=HTTP_TIMEOUT, **kw)
    except httpx.HTTPError as exc:
        raise ReplayRefused(
            f"`creditsync run` owns the embedded ClickHouse but {url} did not answer: {exc}"
        ) from exc
    if response.status_code in (200, 202):
        return response.json()
    message = _message(response)
    if response.status_code == 401:
        raise OperatorTokenRefused(f"{url} refused the operator token: {message}")
    if response.status_code == 404 and method == "POST":
        message = f"{url}: not found — the running server is older than replay-while-serving"
    raise ReplayRefused(f"{url}: HTTP {response.status_code}: {message}")


def replay_on_server(
    http_base: str,
    token: str | None,
    request: dict[str, Any],
    on_progress: Callable[[dict[str, Any]], None],
    *,
    poll: float = POLL_SECONDS,
) -> dict[str, Any]:
    """Start the replay in the running server and follow it to the end; its report
    (ReplayReport.as_dict()). ReplayRefused when refused (409: one is running) or failed."""
    url = f"{http_base.rstrip('/')}{PATH}"
    job = _call("POST", url, token, json=request)
    mine = job["id"]
    while True:
        on_progress(job["progress"])
        if job["state"] != "running":
            break
        time.sleep(poll)
        job = _call("GET", url, token)
        if job["id"] != mine:
            raise ReplayRefused(
                f"replay {mine} is no longer the server's: it now reports {job['id']}"
            )
    if job["state"] == "failed":
        raise ReplayRefused(f"the replay failed in the server (run it again): {job['error']}")
    return job["report"]
