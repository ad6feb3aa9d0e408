"""The live server every browser test drives: the real app under uvicorn on a free port, a fresh
SQLite database built by the migrations, and jobs run in threads through the real job runner
(the way a worker picks them up, without a broker). Also how chromium is launched."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db import make_engine, make_session_factory
from app.jobs import dispatch
from app.jobs.runner import run_job
from app.main import create_app
from app.migrate import upgrade

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu"]


@dataclass
class ThreadDispatcher:
    """Runs each job in its own thread, the way a worker would pick it up."""

    factory: sessionmaker[Session]

    def send(self, job_id: int, queue: str = "short") -> None:
        threading.Thread(
            target=run_job, args=(job_id, self.factory), kwargs={"heartbeat_s": 5.0}, daemon=True
        ).start()


@dataclass
class Server:
    url: str
    factory: sessionmaker[Session]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch_chromium(playwright: Any) -> Any:
    """Debian's chromium, headless, with no background traffic."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@pytest.fixture
def start_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Server]]:
    """Call with TRELLIS_* settings (e.g. TRELLIS_PAGE_SIZE="4") to start one live server."""
    stack = ExitStack()

    def start(**env: str) -> Server:
        monkeypatch.setenv("TRELLIS_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("TRELLIS_SECRET_KEY", "browser-test-secret-key-0123456789")
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        settings = Settings()
        url = settings.effective_database_url
        upgrade(url)
        engine = make_engine(url)
        factory = make_session_factory(engine)
        previous = dispatch.set_dispatcher(ThreadDispatcher(factory))
        port = _free_port()
        config = uvicorn.Config(
            create_app(settings, factory),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            ws="none",
        )
        uvicorn_server = uvicorn.Server(config)
        thread = threading.Thread(target=uvicorn_server.run, daemon=True)
        thread.start()

        def stop() -> None:
            uvicorn_server.should_exit = True
            thread.join(timeout=10)
            dispatch.set_dispatcher(previous)
            engine.dispose()

        stack.callback(stop)
        deadline = time.monotonic() + 15
        while not uvicorn_server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return Server(f"http://127.0.0.1:{port}", factory)

    with stack:
        yield start


@pytest.fixture
def live_server(start_server: Callable[..., Server]) -> Server:
    return start_server()
