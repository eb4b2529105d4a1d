"""A relying party for the browser cases: python-fido2's Fido2Server behind a small HTTP server.

    python3 rp_server.py PORT STATE_DIR [PROVISIONED_JSON]

Serves rp_page.html at http://localhost:PORT/ (rp id "localhost": a secure context without
TLS) and the JSON endpoints the page calls: /flow (the steps to take), /register/begin and
/register/complete (a discoverable credential, residentKey and userVerification required),
/login/begin and /login/complete (no allowCredentials: a username-free login,
userVerification required). The server verifies every response with Fido2Server: attestation
object and client data on registration, signature over authenticator data and client data,
the UV flag and the user handle of the credential used on login.

Without PROVISIONED_JSON the page registers a passkey, then signs in with it. With it (the
test-lab case: a credential added to a lab authenticator through the lab's API, see
../lab_provision.py) the RP already knows that credential's id, user and public key; the page
first signs in, which only the provisioned private key can do, then registers a passkey for a
second user. Each step the page reaches is appended to STATE_DIR/events, one line each
("page-loaded", "create-called", "registered <credential id>", "get-called", "logged-in
<credential id> <signature counter>", "error <step> <message>"), which the guest script follows.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fido2.cose import ES256
from fido2.server import Fido2Server
from fido2.utils import websafe_decode
from fido2.webauthn import (
    Aaguid,
    AttestedCredentialData,
    AuthenticatorData,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialUserEntity,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

HERE = Path(__file__).resolve().parent
USER = PublicKeyCredentialUserEntity(id=b"softkey-firefox-user", name="frieda", display_name="Frieda")
REQUIRED = UserVerificationRequirement.REQUIRED


class RelyingParty:
    def __init__(self, events: Path, provisioned: dict | None):
        self.server = Fido2Server(PublicKeyCredentialRpEntity(id="localhost", name="softkey test RP"))
        # (credential data, user handle) of every account the RP knows.
        self.accounts: list[tuple[AttestedCredentialData, bytes]] = []
        self.steps = ["register", "login"]
        if provisioned is not None:
            key = ES256.from_cryptography_key(load_pem_public_key(provisioned["publicKeyPem"].encode()))
            credential_id = bytes.fromhex(provisioned["credentialId"])
            data = AttestedCredentialData.create(Aaguid.NONE, credential_id, key)
            self.accounts.append((data, bytes.fromhex(provisioned["userHandle"])))
            self.steps = ["login", "register"]
        self.state = None
        self.events = events

    def flow(self, _body):
        return {"steps": self.steps}

    def event(self, line: str) -> None:
        with self.events.open("a") as f:
            f.write(line.replace("\n", " ") + "\n")

    def register_begin(self, _body):
        options, self.state = self.server.register_begin(
            USER,
            [data for data, user in self.accounts if user == USER.id],
            resident_key_requirement=ResidentKeyRequirement.REQUIRED,
            user_verification=REQUIRED,
        )
        return dict(options)

    def register_complete(self, body):
        auth_data = self.server.register_complete(self.state, body)
        if not auth_data.is_user_verified():
            raise ValueError("registration without the UV flag")
        self.accounts.append((auth_data.credential_data, USER.id))
        self.event(f"registered {auth_data.credential_data.credential_id.hex()}")
        return {"status": "registered"}

    def login_begin(self, _body):
        # No credentials: an empty allowCredentials, the key must find the passkey itself.
        options, self.state = self.server.authenticate_begin(user_verification=REQUIRED)
        if options.public_key.allow_credentials:
            raise ValueError("a username-free login must not list credentials")
        return dict(options)

    def login_complete(self, body):
        known = [data for data, _ in self.accounts]
        credential = self.server.authenticate_complete(self.state, known, body)
        user = next(user for data, user in self.accounts if data.credential_id == credential.credential_id)
        handle = body["response"].get("userHandle")
        if handle is None or websafe_decode(handle) != user:
            raise ValueError(f"the user handle is {handle!r}, not the credential's user's")
        auth_data = AuthenticatorData(websafe_decode(body["response"]["authenticatorData"]))
        if not auth_data.is_user_verified():
            raise ValueError("login without the UV flag")
        self.event(f"logged-in {credential.credential_id.hex()} {auth_data.counter}")
        return {"status": "logged-in"}


def handler(rp: RelyingParty):
    routes = {
        "/flow": rp.flow,
        "/register/begin": rp.register_begin,
        "/register/complete": rp.register_complete,
        "/login/begin": rp.login_begin,
        "/login/complete": rp.login_complete,
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if self.path in ("/", "/index.html"):
                self._send(200, "text/html; charset=utf-8", (HERE / "rp_page.html").read_bytes())
            else:
                self._send(404, "text/plain", b"not found")

        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path == "/event":
                rp.event(str(body.get("event", "")))
                return self._send(200, "application/json", b"{}")
            route = routes.get(self.path)
            if route is None:
                return self._send(404, "text/plain", b"not found")
            try:
                result = route(body)
            except Exception as e:  # every verification failure is the case's failure
                rp.event(f"error {self.path} {type(e).__name__}: {e}")
                return self._send(400, "application/json", json.dumps({"error": str(e)}).encode())
            self._send(200, "application/json", json.dumps(result).encode())

        def _send(self, code, kind, data):
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt, *args):
            sys.stderr.write("rp: " + fmt % args + "\n")

    return Handler


def main():
    port, state = int(sys.argv[1]), Path(sys.argv[2])
    provisioned = json.loads(Path(sys.argv[3]).read_text()) if len(sys.argv) > 3 else None
    state.mkdir(parents=True, exist_ok=True)
    rp = RelyingParty(state / "events", provisioned)
    ThreadingHTTPServer(("127.0.0.1", port), handler(rp)).serve_forever()


if __name__ == "__main__":
    main()
