"""Fixtures: the real `softkey` binary (SOFTKEY_BIN) served on a free loopback port.

Set SOFTKEY_BIN to the binary (tests/interop.rs does). Without it, tests that need a server of
their own are skipped, and `device` falls back to SOFTKEY_ADDR=host:port (an already running key).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from usbip_hid import open_device  # also puts clients/python on sys.path

# The softkey_lab package's fixture (clients/python), as `pip install` would register it.
pytest_plugins = ["softkey_lab.pytest_plugin"]

PASSPHRASE = "interop passphrase"


class Server:
    """One `softkey serve` process; `restart()` kills it (SIGKILL) and serves the same vault."""

    def __init__(self, args: list[str]):
        self.args = args
        self.proc: subprocess.Popen | None = None
        self.host, self.port = "127.0.0.1", 0
        self.start()

    def start(self, port: int = 0) -> None:
        binary = os.environ["SOFTKEY_BIN"]
        self.proc = subprocess.Popen(
            [binary, "serve", *self.args, "--listen", f"127.0.0.1:{port}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("softkey: serving on "):
            raise RuntimeError(f"softkey serve did not start: {line!r} {self.proc.stderr.read()}")
        self.host, port_text = line.split()[3].rsplit(":", 1)
        self.port = int(port_text)

    def open(self):
        """Attaches (a power-up as the key sees it) and returns python-fido2's CtapHidDevice."""
        return open_device(self.host, self.port)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> None:
        """A crash and a new process on the same port and vault."""
        port = self.port
        self.kill()
        deadline = time.monotonic() + 10
        while True:
            try:
                self.start(port)
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def _need_binary():
    if "SOFTKEY_BIN" not in os.environ:
        pytest.skip("SOFTKEY_BIN is not set (tests/interop.rs sets it)")


@pytest.fixture
def server():
    """A fresh `softkey serve --ephemeral --presence auto`."""
    _need_binary()
    s = Server(["--ephemeral", "--presence", "auto"])
    yield s
    s.kill()


@pytest.fixture
def vault_server():
    """A fresh vault made by `softkey init`, served with --presence auto."""
    _need_binary()
    with tempfile.TemporaryDirectory() as tmp:
        vault, passfile = Path(tmp) / "vault.softkey", Path(tmp) / "pass"
        passfile.write_text(PASSPHRASE + "\n")
        subprocess.run(
            [os.environ["SOFTKEY_BIN"], "init", "--vault", str(vault), "--passphrase-file",
             str(passfile), "--kdf-memory-mib", "8", "--kdf-iterations", "1"],
            check=True, capture_output=True,
        )
        s = Server(["--vault", str(vault), "--passphrase-file", str(passfile),
                    "--presence", "auto"])
        yield s
        s.kill()


@pytest.fixture
def device(request):
    """python-fido2's CtapHidDevice on a fresh ephemeral key, or on SOFTKEY_ADDR."""
    if "SOFTKEY_BIN" in os.environ:
        s = request.getfixturevalue("server")
        dev = s.open()
    else:
        host, _, port = os.environ.get("SOFTKEY_ADDR", "127.0.0.1:3240").rpartition(":")
        dev = open_device(host, int(port))
    yield dev
    dev.close()
