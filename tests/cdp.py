"""A real headless Chromium (Debian's ``chromium`` package, ``make system-deps``) driven over the
Chrome DevTools Protocol from Python with ``websockets``: no browser download, no mock.

``Browser.start()`` launches Chromium on an ephemeral DevTools port (it writes the port to
``DevToolsActivePort`` in its profile folder) and attaches to its page; ``Page`` sends commands
and evaluates JavaScript in the page.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

CHROMIUM = ("chromium", "chromium-browser")


class PageError(AssertionError):
    """A DevTools command failed, JavaScript threw, or a condition never held."""


def chromium_binary() -> str:
    for name in CHROMIUM:
        found = shutil.which(name)
        if found:
            return found
    raise PageError("chromium is not installed: `make system-deps` installs Debian's package")


@dataclass
class Page:
    ws: ClientConnection
    ids: itertools.count

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        call = next(self.ids)
        self.ws.send(json.dumps({"id": call, "method": method, "params": params}))
        while True:  # events arrive in between; only our answer matters here
            message = json.loads(self.ws.recv(timeout=30))
            if message.get("id") == call:
                if "error" in message:
                    raise PageError(f"{method}: {message['error']}")
                return message.get("result", {})

    def js(self, expression: str) -> Any:
        """The value of ``expression`` (awaited when it is a promise), as JSON."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise PageError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait(self, expression: str, timeout_s: float = 10.0) -> Any:
        """Poll ``expression`` until it is truthy; its value."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = self.js(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise PageError(f"still false after {timeout_s} s: {expression}")
            time.sleep(0.05)

    def goto(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        self.wait("document.readyState === 'complete' && location.href !== 'about:blank'")

    def type_into(self, selector: str, text: str) -> None:
        """Focus the field, clear it and type ``text`` as keyboard input."""
        self.js(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
                "e.focus(); e.value = ''; })()")
        self.send("Input.insertText", text=text)

    def click(self, selector: str) -> None:
        """A real mouse click at the centre of the element."""
        box = self.wait(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) "
            "return null; e.scrollIntoView({block: 'center'}); const r = "
            "e.getBoundingClientRect(); return r.width ? [r.x + r.width / 2, "
            "r.y + r.height / 2] : null; })()"
        )
        x, y = box
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                      clickCount=1)

    def text(self, selector: str) -> str:
        return self.js(f"document.querySelector({json.dumps(selector)})?.innerText ?? ''")

    def texts(self, selector: str) -> list[str]:
        return self.js(f"[...document.querySelectorAll({json.dumps(selector)})]"
                       ".map(e => e.innerText)")

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path


class Browser:
    """One headless Chromium process and its first page."""

    def __init__(self, width: int = 1280, height: int = 1400):
        self.width, self.height = width, height
        self.profile = Path(tempfile.mkdtemp(prefix="console-chromium-"))
        self.process: subprocess.Popen | None = None
        self.ws: ClientConnection | None = None

    def start(self, timeout_s: float = 20.0) -> Page:
        self.process = subprocess.Popen(
            [chromium_binary(), "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             f"--user-data-dir={self.profile}", f"--window-size={self.width},{self.height}",
             "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout_s
        while not port_file.exists() or not port_file.read_text().strip():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise PageError(f"chromium did not open DevTools (exit {self.process.poll()})")
            time.sleep(0.05)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            targets = json.load(r)
        page = next(t for t in targets if t["type"] == "page")
        self.ws = connect(page["webSocketDebuggerUrl"], max_size=64 * 2**20, open_timeout=10)
        driver = Page(self.ws, itertools.count(1))
        driver.send("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height,
                    deviceScaleFactor=1, mobile=False)
        return driver

    def stop(self) -> None:
        if self.ws is not None:
            self.ws.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)
