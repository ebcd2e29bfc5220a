"""Headless chromium driven over the DevTools protocol on --remote-debugging-pipe (no websocket).

Chromium reads commands on fd 3 and writes answers and events on fd 4, each a JSON message
ended by a NUL byte. Every wait here is bounded: a call that gets no answer, or a page that
never shows the text waited for, fails the test with what the page showed instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BASE_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1600",
    "--enable-logging=stderr",
    "--remote-debugging-pipe",
)


class CdpError(AssertionError):
    """Chromium answered a command with an error, or not at all."""


class Chromium:
    """One chromium process and its pipe; `page()` opens a tab in a fresh browser context."""

    def __init__(self, executable: str, workdir: Path, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.stderr_path = workdir / "chromium.stderr"
        to_chromium_r, self._to_chromium = os.pipe()
        self._from_chromium, from_chromium_w = os.pipe()
        stderr = os.open(self.stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        args = [executable, *BASE_ARGS, f"--user-data-dir={workdir / 'chromium-profile'}"]
        try:
            # posix_spawn puts the pipe ends on fds 3 and 4 without a preexec_fn (threads run
            # in this process: uvicorn), in a new session so its helpers can be stopped with it.
            self.pid = os.posix_spawn(
                executable, args, dict(os.environ),
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, stderr, 1),
                    (os.POSIX_SPAWN_DUP2, stderr, 2),
                    (os.POSIX_SPAWN_DUP2, to_chromium_r, 3),
                    (os.POSIX_SPAWN_DUP2, from_chromium_w, 4),
                ],
                setsid=True,
            )  # fmt: skip
        finally:
            for fd in (to_chromium_r, from_chromium_w, stderr):
                os.close(fd)
        self._ids = iter(range(1, 1 << 30))
        self._lock = threading.Condition()
        self._answers: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._closed = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._from_chromium, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._lock:
                    self._closed = True
                    self._lock.notify_all()
                return
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            with self._lock:
                for raw in messages:
                    message = json.loads(raw)
                    if "id" in message:
                        self._answers[message["id"]] = message
                    else:
                        self.events.append(message)
                self._lock.notify_all()

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """One command; its result, or CdpError."""
        with self._lock:
            call_id = next(self._ids)
        message: dict[str, Any] = {"id": call_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_chromium, json.dumps(message).encode() + b"\0")
        with self._lock:
            if not self._lock.wait_for(
                lambda: call_id in self._answers or self._closed, timeout=self.timeout
            ):
                raise CdpError(f"no answer to {method} in {self.timeout}s")
            if call_id not in self._answers:
                raise CdpError(f"chromium exited before answering {method}: {self.log_tail()}")
            answer = self._answers.pop(call_id)
        if "error" in answer:
            raise CdpError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def wait_event(
        self, method: str, match: Callable[[dict[str, Any]], bool] = lambda p: True,
        timeout: float | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """The params of the first event `method` (seen so far or to come) that matches."""

        def found() -> dict[str, Any] | None:
            for event in self.events:
                if event.get("method") == method and match(event.get("params", {})):
                    return event["params"]
            return None

        with self._lock:
            if not self._lock.wait_for(lambda: found() is not None, timeout or self.timeout):
                raise CdpError(f"no {method} event in {timeout or self.timeout}s")
            return found()  # type: ignore[return-value]

    def page(self) -> Page:
        """A new tab in its own browser context (its own sessionStorage and cookies)."""
        context = self.send("Target.createBrowserContext")["browserContextId"]
        target = self.send(
            "Target.createTarget", url="about:blank", browserContextId=context
        )["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        page = Page(self, session, context)
        page.call("Page.enable")
        page.call("Runtime.enable")
        return page

    def log_tail(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-2000:]

    def csp_refusals(self) -> list[str]:
        """Lines where chromium logged a script, style or fetch the page's CSP refused."""
        text = self.stderr_path.read_text(errors="replace")
        return [line for line in text.splitlines() if "Content Security Policy" in line]

    def close(self) -> None:
        """Browser.close, then SIGKILL to its process group if it has not exited in 10 s."""
        with contextlib.suppress(CdpError):  # already gone or hung: the kill below stops it
            self.send("Browser.close")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if os.waitpid(self.pid, os.WNOHANG)[0]:
                break
            time.sleep(0.1)
        else:
            os.killpg(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self._to_chromium)
        self._reader.join(timeout=10)
        os.close(self._from_chromium)


class Page:
    """A tab: navigate, read its text, type, click and set files as a user would."""

    def __init__(self, browser: Chromium, session: str, context: str) -> None:
        self.browser, self.session, self.context = browser, session, context

    def download_to(self, directory: Path) -> None:
        """Save this tab's downloads in `directory`, with download events."""
        self.browser.send(
            "Browser.setDownloadBehavior", behavior="allow", downloadPath=str(directory),
            browserContextId=self.context, eventsEnabled=True,
        )  # fmt: skip

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        return self.browser.send(method, self.session, **params)

    def evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise CdpError(f"{expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def goto(self, url: str) -> None:
        frame = self.call("Page.navigate", url=url)
        if frame.get("errorText"):
            raise CdpError(f"{url}: {frame['errorText']}")
        self.wait_for("document.readyState === 'complete'", f"{url} loaded")

    def text(self, selector: str = "body") -> str:
        return self.evaluate(
            f"(document.querySelector({json.dumps(selector)}) || {{innerText: ''}}).innerText"
        )

    def wait_for(self, expression: str, what: str, timeout: float = 30.0) -> Any:
        """Poll `expression` in the page until it is truthy; fail with the page's text."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {timeout}s for {what}; the page shows:\n"
                                     f"{self.text()[:3000]}")  # fmt: skip
            time.sleep(0.2)

    def wait_text(self, text: str, selector: str = "body", timeout: float = 30.0) -> str:
        """Wait until `text` is shown in `selector`; the element's text then."""
        probe = (f"(document.querySelector({json.dumps(selector)}) || {{innerText: ''}})"
                 f".innerText.includes({json.dumps(text)})")  # fmt: skip
        self.wait_for(probe, f"{text!r} in {selector}", timeout)
        return self.text(selector)

    def click(self, selector: str) -> None:
        """A real mouse click at the centre of the element (scrolled into view first)."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return null; e.scrollIntoView({block: 'center'});"
            " const r = e.getBoundingClientRect();"
            " return {x: r.x + r.width / 2, y: r.y + r.height / 2, w: r.width}; })()"
        )
        if not box or not box["w"]:
            raise AssertionError(f"nothing visible to click at {selector}:\n{self.text()[:2000]}")
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"],
                      button="left", clickCount=1)  # fmt: skip

    def type_into(self, selector: str, text: str) -> None:
        """Focus the field and type `text` as keyboard input."""
        self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        self.call("Input.insertText", text=text)

    def set_files(self, selector: str, *paths: Path) -> None:
        """Choose files in an <input type=file>, as the file dialog would."""
        root = self.call("DOM.getDocument")["root"]["nodeId"]
        node = self.call("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        if not node:
            raise AssertionError(f"no {selector} on the page")
        self.call("DOM.setFileInputFiles", nodeId=node, files=[str(p) for p in paths])
