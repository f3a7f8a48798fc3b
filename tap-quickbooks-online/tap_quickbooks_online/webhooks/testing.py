"""Run the webhook receiver for tests and benchmarks: uvicorn in a thread, or the real CLI as a subprocess.

    with WebhookReceiverServer({"webhook_verifier_token": "...", "webhook_queue_url": "sqlite:///...",
                                "webhook_command": [...]}) as rx:
        rx.url            # "http://127.0.0.1:PORT/webhooks/qbo" — give it to the QBO sandbox
        rx.queue          # the EventQueue (runs(), events(), waiting_count())
        rx.trigger        # the RunTrigger (runs_started, …); None in subprocess mode

`subprocess_mode=True` runs `tap-quickbooks-online webhooks serve --config FILE --port 0` (so it
can be killed with a signal); `rx.process` is the Popen, in its own process group.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from tap_quickbooks_online.webhooks.app import WEBHOOK_PATH, create_app
from tap_quickbooks_online.webhooks.event_queue import EventQueue
from tap_quickbooks_online.webhooks.settings import WebhookSettings
from tap_quickbooks_online.webhooks.trigger import RunTrigger


class WebhookReceiverServer:
    def __init__(self, config: dict, *, subprocess_mode: bool = False, host: str = "127.0.0.1",
                 env: dict[str, str] | None = None, launch: list[str] | None = None, cwd: str | None = None) -> None:
        """`launch` (subprocess mode): the command that starts the receiver instead of the tap's CLI with a
        config file, e.g. `meltano invoke tap-quickbooks-online:webhooks --port 0` (settings then come
        from `env`; `config` still tells this harness where the queue is)."""
        self.config = dict(config)
        self.launch = launch
        self.cwd = cwd
        self.subprocess_mode = subprocess_mode
        self.host = host
        self.env = env
        self.settings = WebhookSettings.from_config(self.config, environ={})
        self.queue = EventQueue.from_url(self.settings.queue_url)
        self.trigger: RunTrigger | None = None
        self.process: subprocess.Popen | None = None
        self.base_url = ""
        self.output: list[str] = []
        self._uvicorn = None
        self._tmp: str | None = None

    @property
    def url(self) -> str:
        return self.base_url + WEBHOOK_PATH

    def start(self) -> WebhookReceiverServer:
        if self.subprocess_mode:
            self._start_subprocess()
        else:
            self._start_thread()
        return self

    def _start_thread(self) -> None:
        # The sandbox package's harness (the tap's `test` extra): this module is for tests and benches only.
        from ml_testing.uvicorn_thread import UvicornThread

        s = self.settings
        self.trigger = RunTrigger(self.queue, s.command, debounce_s=s.debounce_s, max_delay_s=s.max_delay_s,
                                  retry_s=s.retry_s, retry_max_s=s.retry_max_s, run_timeout_s=s.run_timeout_s,
                                  cwd=s.command_cwd, retention_s=s.retention_s)
        self._uvicorn = UvicornThread(create_app(s, self.queue, self.trigger), name="qbo-webhook-receiver",
                                      host=self.host)
        self.base_url = self._uvicorn.start()

    def _start_subprocess(self) -> None:
        self._tmp = tempfile.mkdtemp(prefix="qbo-webhooks-")
        config_path = Path(self._tmp) / "config.json"
        config_path.write_text(json.dumps(self.config))
        exe = shutil.which("tap-quickbooks-online", path=str(Path(sys.executable).parent)) or "tap-quickbooks-online"
        # --config first, as Meltano does
        cmd = [exe, "webhooks", "--config", str(config_path), "serve", "--host", self.host, "--port", "0"]
        self.process = subprocess.Popen(self.launch or cmd, cwd=self.cwd, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True,
                                        env={**(self.env or os.environ), "PYTHONUNBUFFERED": "1"},
                                        start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.output.append(line)
            m = re.search(r"listening on (http://\S+?)/webhooks/qbo", line)
            if m:
                self.base_url = m.group(1)
                threading.Thread(target=self._drain, daemon=True).start()
                self._wait_healthy()
                return
        self.stop()
        raise RuntimeError("webhook receiver subprocess did not start:\n" + "".join(self.output))

    def _drain(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(self.base_url + "/healthz", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError("webhook receiver not healthy")

    def wait_until(self, predicate, timeout: float = 60.0, interval: float = 0.05) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(interval)
        return predicate()

    def stop(self) -> None:
        if self._uvicorn is not None:
            self._uvicorn.stop()
            self._uvicorn = None
        if self.process is not None:
            # The whole process group: a launcher (meltano invoke) and the command a run started.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.process = None
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        self.queue.engine.dispose()

    def __enter__(self) -> WebhookReceiverServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
