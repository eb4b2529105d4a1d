"""A client for softkey's relying-party test lab.

``LabServer`` starts ``softkey lab serve`` on free loopback ports; ``Lab`` talks to a running
lab's HTTP API (the W3C WebDriver virtual-authenticator paths, without ``/session/{id}``) with
the token from the lab's token file; ``open_device`` attaches an authenticator over the
package's user-space USB/IP connection, so python-fido2 uses it as a HID security key without
a kernel module. The ``softkey_lab`` pytest fixture (``pytest_plugin``) gives each test a fresh
lab.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["Lab", "LabError", "LabServer"]


class LabError(Exception):
    """The lab refused a request: the HTTP status and the API's message."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class Lab:
    """A running lab's API at ``api`` (``http://127.0.0.1:PORT``), USB/IP at ``usbip_port``."""

    def __init__(self, api: str, token: str, usbip_host: str = "127.0.0.1", usbip_port: int = 3340):
        self.api = api.rstrip("/")
        self.token = token.strip()
        self.usbip_host = usbip_host
        self.usbip_port = usbip_port

    def call(self, method: str, path: str, body: Any = None, token: str | None = None):
        """One request; returns ``(HTTP status, decoded JSON answer)`` whatever the status."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.api + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token if token is None else token}")
        try:
            with urllib.request.urlopen(request, timeout=40) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    def value(self, method: str, path: str, body: Any = None):
        """One request; returns the answer's ``value``, or raises ``LabError``."""
        status, answer = self.call(method, path, body)
        value = answer.get("value")
        if status != 200:
            raise LabError(status, (value or {}).get("message", "no message"))
        return value

    # W3C Virtual Authenticators commands.
    def add_authenticator(self, **options) -> str:
        return self.value("POST", "/webauthn/authenticator", options)

    def remove_authenticator(self, authenticator: str) -> None:
        self.value("DELETE", f"/webauthn/authenticator/{authenticator}")

    def add_credential(self, authenticator: str, **parameters) -> None:
        self.value("POST", f"/webauthn/authenticator/{authenticator}/credential", parameters)

    def credentials(self, authenticator: str) -> list:
        return self.value("GET", f"/webauthn/authenticator/{authenticator}/credentials")

    def remove_credential(self, authenticator: str, credential_id: str) -> None:
        self.value("DELETE", f"/webauthn/authenticator/{authenticator}/credentials/{credential_id}")

    def remove_all_credentials(self, authenticator: str) -> None:
        self.value("DELETE", f"/webauthn/authenticator/{authenticator}/credentials")

    def set_credential_properties(self, authenticator: str, credential_id: str, **properties) -> None:
        path = f"/webauthn/authenticator/{authenticator}/credentials/{credential_id}/props"
        self.value("POST", path, properties)

    # CDP controls and softkey's own.
    def authenticators(self) -> list:
        return self.value("GET", "/webauthn/authenticators")

    def set_presence(self, authenticator: str, **controls) -> None:
        self.value("POST", f"/webauthn/authenticator/{authenticator}/presence", controls)

    def touch(self, authenticator: str) -> None:
        self.value("POST", f"/webauthn/authenticator/{authenticator}/touch")

    def set_response_override_bits(self, authenticator: str, **bits) -> None:
        self.value("POST", f"/webauthn/authenticator/{authenticator}/response-override-bits", bits)

    def set_faults(self, authenticator: str, **faults) -> None:
        self.value("POST", f"/webauthn/authenticator/{authenticator}/faults", faults)

    def set_pin(self, authenticator: str, pin: str) -> None:
        self.value("POST", f"/webauthn/authenticator/{authenticator}/pin", {"pin": pin})

    def clear_pin(self, authenticator: str) -> None:
        self.value("DELETE", f"/webauthn/authenticator/{authenticator}/pin")

    def reset(self, authenticator: str) -> None:
        self.value("POST", f"/webauthn/authenticator/{authenticator}/reset")

    def disconnect(self, authenticator: str, power_cycle: bool = False) -> bool:
        verb = "power-cycle" if power_cycle else "disconnect"
        return self.value("POST", f"/webauthn/authenticator/{authenticator}/{verb}")["wasAttached"]

    def events(self, after: int = 0, wait: int = 0) -> dict:
        return self.value("GET", f"/webauthn/events?after={after}&wait={wait}")

    def attestation_ca(self, authenticator: str) -> str:
        return self.value("GET", f"/webauthn/authenticator/{authenticator}/attestation-ca")

    def metadata(self, authenticator: str) -> dict:
        return self.value("GET", f"/webauthn/authenticator/{authenticator}/metadata")

    def open_device(self, authenticator: str):
        """The authenticator as python-fido2's ``CtapHidDevice``, over user-space USB/IP.
        Only this needs python-fido2; the API client is the standard library alone."""
        from .usbip import open_device as _open_device

        return _open_device(self.usbip_host, self.usbip_port, authenticator)


class LabServer(Lab):
    """``softkey lab serve`` on free loopback ports, its token file in ``workdir`` (which must be
    private: the lab refuses a directory others may write to). ``stop()`` ends it."""

    def __init__(self, workdir: Path, binary: str | None = None):
        self.token_file = Path(workdir) / "lab-token"
        binary = binary or os.environ.get("SOFTKEY_BIN", "softkey")
        self.binary = binary
        self.proc = subprocess.Popen(
            [binary, "lab", "serve", "--listen", "127.0.0.1:0", "--api", "127.0.0.1:0",
             "--token-file", str(self.token_file)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        line = self.proc.stdout.readline()
        match = re.match(r"softkey lab: USB/IP on 127\.0\.0\.1:(\d+), API on (http://\S+)", line)
        if not match:
            self.proc.kill()
            raise RuntimeError(f"softkey lab did not start: {line!r} {self.proc.stderr.read()}")
        super().__init__(match.group(2), self.token_file.read_text(), usbip_port=int(match.group(1)))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
