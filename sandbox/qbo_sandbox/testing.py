"""Run the QBO sandbox for tests: in-process (uvicorn in a thread) or as a subprocess.

    with QboSandboxServer(realms=2, size="demo", seed=42, latency=False) as sb:
        sb.base_url                 # "http://127.0.0.1:PORT" (API and OAuth base)
        sb.credentials()            # GET /_sandbox/credentials
        sb.control("POST", "/_sandbox/clock", json={"advance": 3600})
        sb.access_token(realm_id)   # a fresh access token via the refresh-token grant
        sb.sandbox                  # the in-process ``app.Sandbox`` (None in subprocess mode)
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time

import requests


class QboSandboxServer:
    def __init__(self, realms: int = 2, size: str = "demo", seed: int = 42, latency: bool = False,
                 host: str = "127.0.0.1", port: int = 0, subprocess_mode: bool = False,
                 now: float | None = None, as_of: float | None = None, redirect_uris: list[str] | None = None,
                 log_level: str = "warning"):
        self.realms, self.size, self.seed, self.latency = realms, size, seed, latency
        self.host, self.port = host, port
        self.subprocess_mode = subprocess_mode
        self.now, self.as_of, self.redirect_uris = now, as_of, redirect_uris
        self.log_level = log_level
        self.base_url = ""
        self.sandbox = None
        self._server = None
        self._thread = None
        self._proc = None
        self._session = requests.Session()
        self._creds = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> "QboSandboxServer":
        if self.subprocess_mode:
            self._start_subprocess()
        else:
            self._start_thread()
        return self

    def _start_thread(self) -> None:
        import uvicorn
        from .app import Sandbox, build_app
        self.sandbox = Sandbox(self.realms, self.size, self.seed, self.latency, now=self.now, as_of=self.as_of,
                               redirect_uris=self.redirect_uris)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self.base_url = f"http://{self.host}:{self.port}"
        self.sandbox.base_url = self.base_url
        config = uvicorn.Config(build_app(self.sandbox), log_level=self.log_level, access_log=False,
                                lifespan="off", timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None  # not the main thread
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True,
                                        name=f"qbo-sandbox-{self.port}")
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("QBO sandbox did not start")
            time.sleep(0.01)

    def _start_subprocess(self) -> None:
        cmd = [sys.executable, "-m", "qbo_sandbox.cli", "serve", "--host", self.host, "--port", str(self.port),
               "--realms", str(self.realms), "--size", self.size, "--seed", str(self.seed)]
        if self.latency:
            cmd.append("--latency")
        for uri in self.redirect_uris or ():
            cmd += ["--redirect-uri", uri]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        # glibc malloc on transparent huge pages (where the kernel offers them, ``madvise`` mode):
        # serving keeps each page's ~2.5 MB of new document bytes, and faulting that in 4 KB pages was
        # ~970 minor faults and ~4 ms of system time an uncached invoice page, with it ~120 and < 1 ms.
        # Ignored by other C libraries; a GLIBC_TUNABLES already set (even empty) is left as it is.
        env.setdefault("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1")
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self._proc.stdout.readline()
            if not line:
                break
            m = re.search(r"QBO sandbox ready at (http://\S+)", line)
            if m:
                self.base_url = m.group(1)
                self.port = int(self.base_url.rsplit(":", 1)[1])
                threading.Thread(target=self._drain, daemon=True).start()
                return
        self.stop()
        raise RuntimeError("QBO sandbox subprocess did not start")

    def _drain(self) -> None:
        for _ in self._proc.stdout:
            pass

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._server = None
        if self.sandbox is not None:
            self.sandbox.close()
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None
        self._session.close()

    def __enter__(self) -> "QboSandboxServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- helpers -------------------------------------------------------------------------------
    def control(self, method: str, path: str, **kwargs):
        r = self._session.request(method, self.base_url + path, timeout=60, **kwargs)
        r.raise_for_status()
        return r.json() if r.content else None

    def credentials(self) -> dict:
        return self.control("GET", "/_sandbox/credentials")

    def realm_ids(self) -> list[str]:
        return [r["realm_id"] for r in self.credentials()["realms"]]

    def access_token(self, realm_id: str | None = None) -> str:
        """Exchange the realm's refresh token for an access token (rotation-aware)."""
        creds = self.credentials()
        realm = next(r for r in creds["realms"] if realm_id in (None, r["realm_id"]))
        r = self._session.post(self.base_url + "/oauth2/v1/tokens/bearer",
                               data={"grant_type": "refresh_token", "refresh_token": realm["refresh_token"]},
                               auth=(creds["client_id"], creds["client_secret"]), timeout=30)
        r.raise_for_status()
        return r.json()["access_token"]

    def api(self, realm_id: str, token: str | None = None) -> "ApiClient":
        return ApiClient(self.base_url, realm_id, token or self.access_token(realm_id))


class ApiClient:
    """A minimal QBO client for tests: ``get(path)``, ``query(text)``, ``post(path, json)``."""

    def __init__(self, base_url: str, realm_id: str, token: str):
        self.base = f"{base_url}/v3/company/{realm_id}"
        self.realm_id = realm_id
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})

    def get(self, path: str, **params):
        params.setdefault("minorversion", "75")
        return self.session.get(self.base + path, params=params, timeout=60)

    def query(self, text: str):
        return self.get("/query", query=text)

    def post(self, path: str, json=None, **params):
        params.setdefault("minorversion", "75")
        return self.session.post(self.base + path, json=json, params=params, timeout=60)
