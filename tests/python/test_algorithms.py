"""Every credential algorithm end to end: python-fido2's Fido2Client registers a passkey of one
algorithm on `softkey serve --algorithms all`, its Fido2Server verifies the attestation and a
username-less login, and after `softkey export` and `softkey import` into a new vault the same
credential still logs in (CTAP 2.1 §6.1.2 step 3; WebAuthn §7.1 step 19, §7.2 step 21).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from fido2.server import Fido2Server
from fido2.webauthn import PublicKeyCredentialParameters, PublicKeyCredentialType

from conftest import PASSPHRASE, Server
from test_interop import _client, _register, _user, _usernameless_login, RP

# COSE identifiers of the algorithms `--algorithms all` enables.
ALGORITHMS = {
    "ES256": -7, "EdDSA": -8, "ES384": -35, "ES512": -36, "ES256K": -47,
    "RS256": -257, "PS256": -37, "ML-DSA-44": -48, "ML-DSA-65": -49, "ML-DSA-87": -50,
}
KDF = ["--kdf-memory-mib", "8", "--kdf-iterations", "1"]


def _softkey(*args: str) -> None:
    subprocess.run([os.environ["SOFTKEY_BIN"], *args], check=True, capture_output=True)


def _init(vault: Path, passfile: Path) -> None:
    _softkey("init", "--vault", str(vault), "--passphrase-file", str(passfile), *KDF)


def _serve(vault: Path, passfile: Path) -> Server:
    server = Server(["--vault", str(vault), "--passphrase-file", str(passfile),
                     "--presence", "auto", "--algorithms", "all"])
    return server


def _login(device, rp: Fido2Server, credential) -> None:
    state, selection = _usernameless_login(_client(device), rp)
    response = selection.get_response(0)
    verified = rp.authenticate_complete(state, [credential], response)
    assert verified.credential_id == credential.credential_id


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_register_login_and_survive_a_backup(name):
    if "SOFTKEY_BIN" not in os.environ:
        pytest.skip("SOFTKEY_BIN is not set (tests/interop.rs sets it)")
    alg = ALGORITHMS[name]
    rp = Fido2Server(RP)
    # The RP asks for this algorithm only, so the key must produce it or fail.
    rp.allowed_algorithms = [PublicKeyCredentialParameters(
        type=PublicKeyCredentialType.PUBLIC_KEY, alg=alg)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        passfile = tmp / "pass"
        passfile.write_text(PASSPHRASE + "\n")
        vault, restored, backup = tmp / "a.softkey", tmp / "b.softkey", tmp / "backup"

        _init(vault, passfile)
        server = _serve(vault, passfile)
        device = server.open()
        try:
            credential = _register(_client(device), rp, _user(f"user-{name}"))
            assert credential.public_key[3] == alg, credential.public_key
            _login(device, rp, credential)
        finally:
            device.close()
            server.kill()

        _softkey("export", "--vault", str(vault), "--passphrase-file", str(passfile),
                 "--backup-passphrase-file", str(passfile), *KDF, str(backup))
        _init(restored, passfile)
        _softkey("import", "--vault", str(restored), "--passphrase-file", str(passfile),
                 "--backup-passphrase-file", str(passfile), "--trust-kdf-cost", str(backup))
        server = _serve(restored, passfile)
        device = server.open()
        try:
            _login(device, rp, credential)
        finally:
            device.close()
            server.kill()
