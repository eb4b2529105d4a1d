"""Batch attestation end to end: `softkey init` makes a CA, `softkey attestation-ca` prints
it, `serve --attestation batch` signs packed statements with a leaf under it, and an RP that
trusts the CA verifies the chain (python-fido2 for the statement, cryptography for the chain).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
from pathlib import Path

import pytest
from cryptography import x509
from fido2.attestation import AttestationType, PackedAttestation
from fido2.client import DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.server import Fido2Server
from fido2.webauthn import (
    AttestationConveyancePreference,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialUserEntity,
    UserVerificationRequirement,
)

from conftest import PASSPHRASE, Server

FIDO_AAGUID_OID = x509.ObjectIdentifier("1.3.6.1.4.1.45724.1.1.4")


@pytest.fixture
def batch_vault():
    if "SOFTKEY_BIN" not in os.environ:
        pytest.skip("SOFTKEY_BIN is not set")
    binary = os.environ["SOFTKEY_BIN"]
    with tempfile.TemporaryDirectory() as tmp:
        vault, passfile = Path(tmp) / "vault.softkey", Path(tmp) / "pass"
        passfile.write_text(PASSPHRASE + "\n")
        common = ["--vault", str(vault), "--passphrase-file", str(passfile)]
        subprocess.run([binary, "init", *common, "--kdf-memory-mib", "8", "--kdf-iterations", "1"],
                       check=True, capture_output=True)
        ca_pem = subprocess.run([binary, "attestation-ca", *common], check=True,
                                capture_output=True, text=True).stdout
        server = Server([*common, "--presence", "auto", "--attestation", "batch"])
        yield server, x509.load_pem_x509_certificate(ca_pem.encode())
        server.kill()


def register(server: Server, attestation):
    dev = server.open()
    try:
        rp = Fido2Server(PublicKeyCredentialRpEntity(name="Example", id="example.com"),
                         attestation=attestation)
        options, state = rp.register_begin(
            PublicKeyCredentialUserEntity(id=secrets.token_bytes(8), name="ann"),
            user_verification=UserVerificationRequirement.DISCOURAGED)
        client = Fido2Client(dev, DefaultClientDataCollector("https://example.com"),
                             UserInteraction())
        response = client.make_credential(options.public_key)
        rp.register_complete(state, response)
        return response.response
    finally:
        dev.close()


def test_batch_attestation_chains_to_the_printed_ca(batch_vault):
    server, ca = batch_vault
    response = register(server, AttestationConveyancePreference.DIRECT)
    att = response.attestation_object
    assert att.fmt == "packed"
    result = PackedAttestation().verify(att.att_stmt, att.auth_data,
                                        response.client_data.hash)
    assert result.attestation_type == AttestationType.BASIC
    leaf = x509.load_der_x509_certificate(result.trust_path[0])
    leaf.verify_directly_issued_by(ca)  # raises if the CA did not sign it
    assert leaf.extensions.get_extension_for_oid(x509.oid.ExtensionOID.BASIC_CONSTRAINTS).value.ca is False
    aaguid = leaf.extensions.get_extension_for_oid(FIDO_AAGUID_OID).value.value
    assert aaguid[-16:] == bytes(att.auth_data.credential_data.aaguid)
    ou = leaf.subject.get_attributes_for_oid(x509.oid.NameOID.ORGANIZATIONAL_UNIT_NAME)
    assert ou[0].value == "Authenticator Attestation"


def test_none_when_the_platform_prefers_it(batch_vault):
    server, _ = batch_vault
    # The platform's attestationFormatsPreference (makeCredential 0x0B) asking for "none"
    # wins over the configured batch mode (CTAP 2.2 §6.1.2 step 19).
    from fido2.ctap2 import Ctap2

    dev = server.open()
    try:
        ctap = Ctap2(dev)
        made = ctap.send_cbor(0x01, {
            1: secrets.token_bytes(32),
            2: {"id": "example.com"},
            3: {"id": b"u", "name": "u"},
            4: [{"alg": -7, "type": "public-key"}],
            0x0B: ["none"],
        })
        assert made[1] == "none" and made[3] == {}
    finally:
        dev.close()
