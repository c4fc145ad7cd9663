"""A minimal Chrome DevTools Protocol client over aiohttp, enough to drive Debian's headless
Chromium in tests: open a page, evaluate JavaScript, click like a mouse, take a screenshot.

No browser download and no driver: Chromium is started with ``--remote-debugging-port=0``
and the DevTools websocket is found through the port file it writes in its profile.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--remote-debugging-port=0")
CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
START_TIMEOUT = 30.0


class BrowserMissing(RuntimeError):
    pass


def find_chromium() -> str:
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    raise BrowserMissing(
        "no Chromium found on PATH; install Debian's: apt-get install -y chromium "
        "(the browser tests need a real headless browser and are never skipped)")


class Page:
    """One browser tab; JavaScript errors and console errors are collected in ``errors``."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())
        self.errors: list[str] = []

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        answer = asyncio.get_running_loop().create_future()
        self._waiting[call_id] = answer
        await self._socket.send_json({"id": call_id, "method": method, "params": params})
        return await asyncio.wait_for(answer, 30)

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete'")

    async def evaluate(self, expression: str) -> Any:
        reply = await self.send("Runtime.evaluate", expression=expression,
                                returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in reply:
            raise AssertionError(f"JavaScript failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    async def wait_for(self, expression: str, *, seconds: float = 15.0) -> Any:
        """Poll until ``expression`` is truthy; its last value is in the failure message."""
        value: Any = None
        try:
            async with asyncio.timeout(seconds):
                # The page cannot signal us, so polling is the only way to wait on it.
                while not (value := await self.evaluate(expression)):  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise AssertionError(f"waited {seconds}s for {expression!r}; got {value!r}") from None
        return value

    async def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element (after scrolling it into view)."""
        box = await self.evaluate(f"""(() => {{
            const node = document.querySelector({json.dumps(selector)});
            if (!node) return null;
            node.scrollIntoView({{block: "center"}});
            const r = node.getBoundingClientRect();
            return {{x: r.x + r.width / 2, y: r.y + r.height / 2}};
        }})()""")
        if box is None:
            raise AssertionError(f"nothing on the page matches {selector}")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            await self.send("Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"],
                            button="left", clickCount=1)

    async def type_text(self, selector: str, text: str) -> None:
        """Click into the field, then type as a keyboard would (input events included)."""
        await self.click(selector)
        await self.send("Input.insertText", text=text)

    async def screenshot(self, path: Path, *, full_page: bool = True) -> None:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = (await self.send("Page.getLayoutMetrics"))["cssContentSize"]
            params |= {"captureBeyondViewport": True, "clip": {
                "x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}}
        data = (await self.send("Page.captureScreenshot", **params))["data"]
        await asyncio.to_thread(_write, path, base64.b64decode(data))

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    async def _read(self) -> None:
        async for message in self._socket:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(message.data)
            answer = self._waiting.pop(data.get("id", -1), None)
            if answer is not None and not answer.done():
                if "error" in data:
                    answer.set_exception(AssertionError(f"CDP error: {data['error']}"))
                else:
                    answer.set_result(data.get("result", {}))
            else:
                self._note(data)

    def _note(self, event: dict[str, Any]) -> None:
        params = event.get("params", {})
        if event.get("method") == "Runtime.exceptionThrown":
            self.errors.append(str(params["exceptionDetails"]))
        elif event.get("method") == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.errors.append(params["entry"]["text"])
        elif event.get("method") == "Runtime.consoleAPICalled" and params["type"] == "error":
            self.errors.append(str(params["args"]))


@asynccontextmanager
async def headless_chromium(profile: Path, *, width: int = 1400,
                            height: int = 1000) -> AsyncIterator[Page]:
    await asyncio.to_thread(profile.mkdir, parents=True, exist_ok=True)
    log = await asyncio.to_thread((profile / "chromium.log").open, "wb")
    process = await asyncio.create_subprocess_exec(
        find_chromium(), *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
        "about:blank", stdout=log, stderr=log, start_new_session=True)
    try:
        async with aiohttp.ClientSession() as http:
            port = await _devtools_port(profile, process)
            async with http.get(f"http://127.0.0.1:{port}/json/list") as response:
                targets = await response.json()
            page_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
            async with http.ws_connect(page_url, max_msg_size=0) as socket:
                page = Page(socket)
                for domain in ("Page", "Runtime", "Log"):
                    await page.send(f"{domain}.enable")
                await page.send("Emulation.setDeviceMetricsOverride", width=width,
                                height=height, deviceScaleFactor=1, mobile=False)
                try:
                    yield page
                finally:
                    with contextlib.suppress(Exception):
                        await page.send("Browser.close")
                    await page.close()
    finally:
        await _reap(process)
        log.close()


async def _devtools_port(profile: Path, process: asyncio.subprocess.Process) -> int:
    port_file = profile / "DevToolsActivePort"
    async with asyncio.timeout(START_TIMEOUT):
        while True:
            if process.returncode is not None:
                tail = (profile / "chromium.log").read_text(errors="replace")[-2000:]
                raise BrowserMissing(f"Chromium exited with {process.returncode}:\n{tail}")
            if port_file.exists() and (text := port_file.read_text().strip()):
                return int(text.splitlines()[0])
            await asyncio.sleep(0.05)


async def _reap(process: asyncio.subprocess.Process) -> None:
    try:
        await asyncio.wait_for(process.wait(), 10)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the group we started, nothing else
        await process.wait()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
