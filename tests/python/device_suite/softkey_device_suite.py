"""A pytest plugin that runs python-fido2's own device suite (``tests/device``) against softkey.

python-fido2's suite is written for a physical key on a USB port. Three hooks make softkey that key:

* **Discovery.** ``fido2.hid.list_descriptors``/``get_descriptor``/``open_connection`` are
  replaced before the suite's conftest imports them, so the suite finds exactly one FIDO HID
  device: softkey imported through the project's USB/IP connection class
  (``tests/python/usbip_hid.py``), as Linux ``usbip attach`` would.
* **Power.** The suite can drive a "Pico controller" (its ``--controller`` option), an HTTP
  service that switches a USB port's power and presses the key. This plugin serves that API on
  loopback: ``/usbN/power/off`` stops ``softkey serve`` (SIGTERM) and ``/usbN/power/on`` starts
  it again on the same vault and port, which is softkey's power cycle (PIN soft-lock cleared,
  reset window opened). Touch requests are accepted and ignored: the key runs with
  ``--presence auto``.
* **Configuration.** The key serves every algorithm (``--algorithms all``), batch attestation,
  and enterprise attestation for ``EP_RP_ID``, which is also set as the suite's ``--ep-rp-id``,
  so the per-algorithm, enterprise attestation and CTAP 2.2 tests all run.
* **Expectations.** ``expectations.json`` lists every test expected to skip, each with its
  reason, in the manner of rustls's BoGo config. The run fails on any failure or error, on a
  skip the file does not list, and on a listed skip that passed. It ends with one line:
  ``python-fido2 device suite: P passed, F failed, E errors, S skipped (expected S)``.

Environment: ``SOFTKEY_BIN`` (the binary), ``SOFTKEY_DEVICE_SUITE_WORKDIR`` (vault and server
logs; a new temporary directory if unset),
``SOFTKEY_DEVICE_SUITE_EXPECTATIONS`` (defaults to the file beside this one),
``SOFTKEY_DEVICE_SUITE_SERVE_ARGS`` (more ``softkey serve`` arguments, for trying a
configuration by hand, e.g. ``--attestation batch`` with the suite's ``--ep-rp-id``; the cargo
test clears it).

By hand, with a Python that has fido2 2.2.1 and pytest (``cargo test --test device_suite``
leaves one in target/tmp/interop-venv), from the repository root:

    export SOFTKEY_BIN=$PWD/target/debug/softkey PYTHONPATH=$PWD/tests/python/device_suite
    cd "$(python tests/python/device_suite/fetch_suite.py target/tmp/python-fido2-sdist)"
    python -m pytest tests/device -p softkey_device_suite -p no:cacheprovider
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # usbip_hid.py

import fido2.hid  # noqa: E402
from usbip_hid import UsbipHidConnection  # noqa: E402

VAULT_PASSPHRASE = "device suite passphrase"
BUSID = "1-1"
# The suite's PicoController addresses one port; any number works, this is its default.
CONTROLLER_PORT_NUMBER = 6
# The RP id configured for vendor-facilitated enterprise attestation (`serve --enterprise-rp`)
# and passed to the suite as its --ep-rp-id, so test_ep_vendor runs.
EP_RP_ID = "enterprise.example"


class SoftkeyUnderTest:
    """One `softkey serve` on a fresh vault, switched on and off like a key on a powered port."""

    def __init__(self, binary: str, workdir: Path):
        self.binary = binary
        self.workdir = workdir
        self.vault = workdir / "vault.softkey"
        self.passfile = workdir / "passphrase"
        self.config_home = workdir / "config"
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.descriptor: fido2.hid.HidDescriptor | None = None
        self.starts = 0
        self._lock = threading.Lock()

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["XDG_CONFIG_HOME"] = str(self.config_home)  # never the user's configuration
        env["XDG_RUNTIME_DIR"] = str(self.workdir)  # a control socket of its own
        env.pop("SOFTKEY_CONFIG", None)
        return env

    def create_vault(self) -> None:
        """`softkey init` on a new vault: the suite refuses a key that has a PIN already."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_home.mkdir(exist_ok=True)
        self.vault.unlink(missing_ok=True)
        self.passfile.write_text(VAULT_PASSPHRASE + "\n")
        subprocess.run(
            [self.binary, "init", "--vault", str(self.vault), "--passphrase-file",
             str(self.passfile), "--kdf-memory-mib", "8", "--kdf-iterations", "1"],
            check=True, capture_output=True, env=self._env(),
        )

    @property
    def powered(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def power_on(self) -> None:
        with self._lock:
            if self.powered:
                return
            deadline = time.monotonic() + 15
            while True:
                try:
                    self._start()
                    break
                except RuntimeError:
                    # The port of the previous process may still be closing.
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            # Enumerate once, as the host does when a device appears.
            conn = UsbipHidConnection("127.0.0.1", self.port, BUSID)
            self.descriptor = conn.descriptor
            conn.close()

    def _start(self) -> None:
        self.starts += 1
        log = open(self.workdir / f"serve-{self.starts}.log", "w")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--vault", str(self.vault), "--passphrase-file",
             str(self.passfile), "--presence", "auto", "--listen", f"127.0.0.1:{self.port}",
             # Every algorithm the key has, so the suite's per-algorithm tests all run.
             "--algorithms", "all",
             # Batch attestation (the suite compares enterprise certificates with the batch
             # one) and enterprise attestation for EP_RP_ID (CTAP 2.1 §7.1).
             "--attestation", "batch", "--enterprise-rp", EP_RP_ID,
             *os.environ.get("SOFTKEY_DEVICE_SUITE_SERVE_ARGS", "").split()],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, text=True,
            env=self._env(),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("softkey: serving on "):
            self.proc.wait()
            self.proc = None
            raise RuntimeError(f"softkey serve did not start: {line!r}")
        self.port = int(line.split()[3].rsplit(":", 1)[1])

    def power_off(self) -> None:
        with self._lock:
            if self.proc is None:
                return
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
            self.descriptor = None

    @property
    def path(self) -> str:
        return f"usbip://127.0.0.1:{self.port}/{BUSID}"

    # -- what fido2.hid's platform backend would answer --------------------------------

    def list_descriptors(self):
        descriptor = self.descriptor
        return [descriptor] if self.powered and descriptor is not None else []

    def get_descriptor(self, path):
        descriptor = self.descriptor
        if not self.powered or descriptor is None or path != descriptor.path:
            raise ValueError(f"no such device: {path!r}")
        return descriptor

    def open_connection(self, descriptor):
        if not self.powered or descriptor.path != self.path:
            raise OSError(f"no such device: {descriptor.path!r}")
        return UsbipHidConnection("127.0.0.1", self.port, BUSID)


class _Controller(BaseHTTPRequestHandler):
    """The suite's Pico controller API: GET /, /usbN/power/{on,off}, /usbN/touch/{on,off}."""

    key: SoftkeyUnderTest

    def do_GET(self):  # noqa: N802 (http.server's name)
        parts = self.path.strip("/").split("/")
        if parts == [""]:
            return self._ok()
        if len(parts) == 3 and parts[0] == f"usb{CONTROLLER_PORT_NUMBER}":
            what, state = parts[1], parts[2]
            if what == "power" and state == "off":
                self.key.power_off()
                return self._ok()
            if what == "power" and state == "on":
                self.key.power_on()
                return self._ok()
            if what == "touch" and state in ("on", "off"):
                return self._ok()  # --presence auto approves every request
        self.send_error(404)

    def _ok(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


class Expectations:
    """expectations.json: {"skipped": {"<test id, '*' matches anything>": {"message", "reason"}}}."""

    def __init__(self, path: Path):
        data = json.loads(path.read_text())
        unknown = set(data) - {"skipped", "comment"}
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
        self.skipped: dict[str, re.Pattern[str]] = {}
        self._ids: dict[str, re.Pattern[str]] = {}
        for pattern, entry in data["skipped"].items():
            if set(entry) != {"message", "reason"} or not entry["reason"].strip():
                raise ValueError(f"{path}: {pattern!r} needs a 'message' and a 'reason'")
            self.skipped[pattern] = re.compile(entry["message"])
            # Only '*' is special: test ids are full of '[' and ']'.
            self._ids[pattern] = re.compile(re.escape(pattern).replace(r"\*", ".*"))

    def expected_skip(self, nodeid: str) -> str | None:
        """The pattern that expects `nodeid` to skip, if any."""
        if nodeid in self.skipped:
            return nodeid
        for pattern, ids in self._ids.items():
            if ids.fullmatch(nodeid):
                return pattern
        return None


class DeviceSuiteRun:
    def __init__(self, expectations: Expectations):
        self.expectations = expectations
        self.outcome: dict[str, str] = {}  # nodeid -> passed | failed | error | skipped
        self.skip_message: dict[str, str] = {}

    def record(self, report) -> None:
        nodeid = _short_nodeid(report.nodeid)
        if report.skipped:
            self.outcome.setdefault(nodeid, "skipped")
            longrepr = report.longrepr
            message = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
            self.skip_message[nodeid] = message.removeprefix("Skipped: ")
        elif report.failed:
            # A failure in setup or teardown is an error, as pytest counts it;
            # a test keeps the first bad outcome it had.
            if self.outcome.get(nodeid) not in ("failed", "error"):
                self.outcome[nodeid] = "failed" if report.when == "call" else "error"
        elif report.when == "call" and report.passed:
            self.outcome.setdefault(nodeid, "passed")

    def problems(self) -> list[str]:
        out = []
        for nodeid, outcome in sorted(self.outcome.items()):
            pattern = self.expectations.expected_skip(nodeid)
            if outcome == "skipped":
                message = self.skip_message.get(nodeid, "")
                if pattern is None:
                    out.append(f"unexpected skip: {nodeid} ({message})")
                elif not self.expectations.skipped[pattern].search(message):
                    out.append(f"skipped for another reason: {nodeid} ({message}; "
                               f"expectations.json expects /{self.expectations.skipped[pattern].pattern}/)")
            elif outcome == "passed" and pattern is not None:
                out.append(f"expected to skip but passed: {nodeid} (listed as {pattern!r}: "
                           f"remove it from expectations.json)")
            elif outcome in ("failed", "error"):
                out.append(f"{outcome}: {nodeid}")
        if not self.outcome:
            out.append("no test ran")
        return out

    def counts(self) -> dict[str, int]:
        counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0, "expected": 0}
        for nodeid, outcome in self.outcome.items():
            counts[outcome] += 1
            pattern = self.expectations.expected_skip(nodeid)
            if (outcome == "skipped" and pattern is not None
                    and self.expectations.skipped[pattern].search(self.skip_message.get(nodeid, ""))):
                counts["expected"] += 1
        return counts


def _short_nodeid(nodeid: str) -> str:
    """'tests/device/test_x.py::t[a]' -> 'test_x.py::t[a]'."""
    marker = "tests/device/"
    return nodeid.split(marker, 1)[1] if marker in nodeid else nodeid


KEY: SoftkeyUnderTest | None = None
RUN: DeviceSuiteRun | None = None
_HTTP: ThreadingHTTPServer | None = None


def _list_descriptors():
    return KEY.list_descriptors() if KEY is not None else []


def _get_descriptor(path):
    if KEY is None:
        raise ValueError(f"no such device: {path!r}")
    return KEY.get_descriptor(path)


def _open_connection(descriptor):
    if KEY is None:
        raise OSError(f"no such device: {descriptor.path!r}")
    return KEY.open_connection(descriptor)


# Now, at import: the suite's conftest does `from fido2.hid import list_descriptors, ...`
# when pytest loads it, which is before any pytest_configure hook runs.
fido2.hid.list_descriptors = _list_descriptors
fido2.hid.get_descriptor = _get_descriptor
fido2.hid.open_connection = _open_connection


def pytest_configure(config):
    global KEY, RUN, _HTTP
    binary = os.environ.get("SOFTKEY_BIN")
    if not binary:
        raise pytest.UsageError("SOFTKEY_BIN must name the softkey binary")
    workdir = Path(os.environ.get("SOFTKEY_DEVICE_SUITE_WORKDIR")
                   or tempfile.mkdtemp(prefix="softkey-device-suite-"))
    expectations = Path(os.environ.get("SOFTKEY_DEVICE_SUITE_EXPECTATIONS",
                                       HERE / "expectations.json"))
    RUN = DeviceSuiteRun(Expectations(expectations))
    KEY = SoftkeyUnderTest(binary, workdir.resolve())
    KEY.create_vault()
    KEY.power_on()
    _Controller.key = KEY
    _HTTP = ThreadingHTTPServer(("127.0.0.1", 0), _Controller)
    threading.Thread(target=_HTTP.serve_forever, daemon=True).start()
    config.option.controller = f"http://127.0.0.1:{_HTTP.server_address[1]}"
    config.option.pico_port = CONTROLLER_PORT_NUMBER
    config.option.ep_rp_id = EP_RP_ID


def pytest_runtest_logreport(report):
    if RUN is not None:
        RUN.record(report)


def pytest_sessionfinish(session, exitstatus):
    if RUN is not None and RUN.problems() and session.exitstatus == 0:
        session.exitstatus = 1


def pytest_unconfigure(config):
    if _HTTP is not None:
        _HTTP.shutdown()
    if KEY is not None:
        KEY.power_off()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if RUN is None:
        return
    tr = terminalreporter
    problems = RUN.problems()
    if problems:
        tr.section("softkey expectations")
        for line in problems:
            tr.write_line(line)
    c = RUN.counts()
    tr.write_line(
        f"python-fido2 device suite: {c['passed']} passed, {c['failed']} failed, "
        f"{c['error']} errors, {c['skipped']} skipped (expected {c['expected']})"
    )
