"""The host half of the guest suite's test-lab case: provisions a lab authenticator through
the lab's HTTP API before the guest boots, and checks afterwards what the API saw.

    python3 lab_provision.py provision API TOKEN_FILE OUT.json
    python3 lab_provision.py check API TOKEN_FILE OUT.json

`provision` adds one authenticator (the lab's defaults: CTAP 2.1, presence approved), sets its
PIN, and adds one discoverable credential for rp id "localhost" made from a fresh P-256 key
(openssl), with a signature counter to start from. OUT.json (shared with the guest) holds
what the guest's relying party knows of that credential: its id, user, public key (SPKI PEM)
and starting counter, never the private key, and the PIN for the guest to type as a person
would. `check` reads the lab's events and credentials after the guest ran: the added
credential was asserted, the PIN was tried, and a second credential was registered through
the browser. Standard library and openssl only (the softkey_lab client from the repository).
"""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "clients" / "python"))
from softkey_lab import Lab  # noqa: E402

PIN = "2468"
START_COUNT = 41


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def openssl(*args: str, stdin: bytes | None = None) -> bytes:
    return subprocess.run(["openssl", *args], input=stdin, capture_output=True, check=True).stdout


def provision(lab: Lab, out: Path) -> None:
    authenticator = lab.add_authenticator()
    lab.set_pin(authenticator, PIN)
    der = openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-outform", "DER")
    pkcs8 = openssl("pkcs8", "-topk8", "-nocrypt", "-inform", "DER", "-outform", "DER", stdin=der)
    public_pem = openssl("pkey", "-inform", "DER", "-pubout", stdin=pkcs8).decode()
    credential_id = secrets.token_bytes(32)
    user_handle = secrets.token_bytes(16)
    lab.add_credential(
        authenticator,
        credentialId=b64url(credential_id),
        isResidentCredential=True,
        rpId="localhost",
        privateKey=b64url(pkcs8),
        userHandle=b64url(user_handle),
        userName="lab-alice",
        userDisplayName="Alice (provisioned by the lab API)",
        signCount=START_COUNT,
    )
    out.write_text(json.dumps({
        "authenticator": authenticator,
        "credentialId": credential_id.hex(),
        "userHandle": user_handle.hex(),
        "userName": "lab-alice",
        "publicKeyPem": public_pem,
        "signCount": START_COUNT,
        "pin": PIN,
    }))
    print(f"lab: authenticator {authenticator}, PIN set, credential {credential_id.hex()[:16]}… added")


def check(lab: Lab, out: Path) -> None:
    given = json.loads(out.read_text())
    authenticator = given["authenticator"]
    events = lab.events()["events"]
    kinds = [(e["type"], e["authenticatorId"]) for e in events]
    asserted = [e for e in events if e["type"] == "credentialAsserted"]
    provisioned = b64url(bytes.fromhex(given["credentialId"]))
    problems = []
    if not any(e["details"].get("credentialId") == provisioned for e in asserted):
        problems.append(f"no credentialAsserted for the provisioned credential (events: {kinds})")
    if not any(e["type"] == "pinTried" for e in events):
        problems.append("no pinTried event")
    credentials = lab.credentials(authenticator)
    others = [c for c in credentials if c["credentialId"] != provisioned]
    if len(others) != 1 or others[0]["rpId"] != "localhost":
        problems.append(f"expected one credential registered through Firefox, the lab holds {len(credentials)}")
    mine = [c for c in credentials if c["credentialId"] == provisioned]
    if not mine or mine[0]["signCount"] != START_COUNT + 1:
        counts = [c["signCount"] for c in mine]
        problems.append(f"the provisioned credential's signCount is not {START_COUNT + 1}: {counts}")
    if problems:
        sys.exit("lab: " + "; ".join(problems))
    print(f"lab: the API saw {len(events)} events: the provisioned credential asserted "
          f"(signCount {START_COUNT + 1}), the PIN tried, a second credential registered")


def main() -> None:
    verb, api, token_file, out = sys.argv[1], sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
    lab = Lab(api, token_file.read_text())
    {"provision": provision, "check": check}[verb](lab, out)


if __name__ == "__main__":
    main()
