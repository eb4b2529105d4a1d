"""A worked example: a relying party built on py_webauthn (PyPI `webauthn`) tests itself against
`softkey lab` authenticators. It verifies registrations in every attestation format the lab makes
(none, packed self, packed batch, fido-u2f, apple, android-key and tpm, the certificates chained
to the lab key's own test CA, with the AAGUID the test chose) and authentications, reads BE/BS and counters
set through the lab API, and rejects what a careful RP must reject when the lab injects it: a
bogus signature, a missing UP flag and a counter that went back.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from pathlib import Path

import pytest
import webauthn
from fido2.client import DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.webauthn import PublicKeyCredentialCreationOptions, PublicKeyCredentialRequestOptions
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AttestationFormat,
    AuthenticatorSelectionCriteria,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from softkey_lab import Lab
from test_lab import b64
from usbip_hid import open_device

RP_ID = "example.com"
ORIGIN = "https://example.com"


@pytest.fixture
def lab(request):
    if "SOFTKEY_BIN" not in os.environ:
        pytest.skip("SOFTKEY_BIN is not set (tests/interop.rs sets it)")
    return request.getfixturevalue("softkey_lab")


class RelyingParty:
    """The RP under test: py_webauthn's verification, credentials kept in memory."""

    def __init__(self, attestation=AttestationConveyancePreference.NONE, roots=None, algorithms=None):
        self.attestation = attestation
        self.roots = roots
        self.algorithms = algorithms
        self.credentials = {}

    def register(self, client: Fido2Client, name: str):
        options = webauthn.generate_registration_options(
            rp_id=RP_ID, rp_name="Example", user_name=name, attestation=self.attestation,
            supported_pub_key_algs=self.algorithms,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.DISCOURAGED))
        as_json = json.loads(webauthn.options_to_json(options))
        response = client.make_credential(PublicKeyCredentialCreationOptions.from_dict(as_json))
        verified = webauthn.verify_registration_response(
            credential=dict(response), expected_challenge=options.challenge,
            expected_rp_id=RP_ID, expected_origin=ORIGIN,
            pem_root_certs_bytes_by_fmt=self.roots)
        self.credentials[verified.credential_id] = verified
        return verified

    def login(self, client: Fido2Client, credential_id: bytes):
        stored = self.credentials[credential_id]
        options = webauthn.generate_authentication_options(
            rp_id=RP_ID, user_verification=UserVerificationRequirement.DISCOURAGED)
        public_key = PublicKeyCredentialRequestOptions.from_dict(
            json.loads(webauthn.options_to_json(options)))
        response = client.get_assertion(public_key).get_response(0)
        verified = webauthn.verify_authentication_response(
            credential=dict(response), expected_challenge=options.challenge,
            expected_rp_id=RP_ID, expected_origin=ORIGIN,
            credential_public_key=stored.credential_public_key,
            credential_current_sign_count=stored.sign_count)
        stored.sign_count = verified.new_sign_count
        return verified


def client_for(lab: Lab, aid: str) -> Fido2Client:
    device = open_device("127.0.0.1", lab.usbip_port, aid)
    return Fido2Client(device, client_data_collector=DefaultClientDataCollector(ORIGIN),
                       user_interaction=UserInteraction())


def add(lab: Lab, options: dict) -> str:
    status, created = lab.call("POST", "/webauthn/authenticator", options)
    assert status == 200, created
    return created["value"]


# `none`: the lab key answers with no statement at all (its `attestation` option), as a
# platform that strips attestation passes a registration on.
FORMATS = {
    "none": AttestationFormat.NONE,
    "self": AttestationFormat.PACKED,
    "batch": AttestationFormat.PACKED,
    "fido-u2f": AttestationFormat.FIDO_U2F,
    "apple": AttestationFormat.APPLE,
    "android-key": AttestationFormat.ANDROID_KEY,
    "tpm": AttestationFormat.TPM,
}
AAGUID = "5f1c0d2e-7a3b-4c8d-9e0f-112233445566"


@pytest.mark.parametrize("attestation", list(FORMATS))
def test_registration_and_authentication_verify(lab, attestation):
    aid = add(lab, {"attestation": attestation, "aaguid": AAGUID})
    fmt = FORMATS[attestation]
    roots = None
    if attestation not in ("self", "none"):
        status, ca = lab.call("GET", f"/webauthn/authenticator/{aid}/attestation-ca")
        assert status == 200
        roots = {fmt: [ca["value"].encode()]}
    # fido-u2f, apple and android-key certify P-256 keys: the RP asks for ES256 (py_webauthn's
    # default list starts with EdDSA, which the key would pick, with packed self attestation).
    rp = RelyingParty(AttestationConveyancePreference.DIRECT, roots,
                      [COSEAlgorithmIdentifier.ECDSA_SHA_256])
    client = client_for(lab, aid)
    registered = rp.register(client, "alice")
    assert registered.fmt == fmt
    # fido-u2f has no AAGUID (WebAuthn §8.6); the others carry the one the lab was given.
    expected = "00000000-0000-0000-0000-000000000000" if attestation == "fido-u2f" else AAGUID
    assert registered.aaguid == expected
    assert registered.sign_count == 0
    first = rp.login(client, registered.credential_id)
    second = rp.login(client, registered.credential_id)
    assert (first.new_sign_count, second.new_sign_count) == (1, 2)


def test_a_certificate_from_another_ca_is_refused(lab):
    """The RP's trust anchors decide: the same android-key attestation against another lab key's
    CA does not verify."""
    aid = add(lab, {"attestation": "android-key"})
    other = add(lab, {"attestation": "android-key"})
    _, ca = lab.call("GET", f"/webauthn/authenticator/{other}/attestation-ca")
    rp = RelyingParty(AttestationConveyancePreference.DIRECT,
                      {AttestationFormat.ANDROID_KEY: [ca["value"].encode()]},
                      [COSEAlgorithmIdentifier.ECDSA_SHA_256])
    with pytest.raises(InvalidRegistrationResponse):
        rp.register(client_for(lab, aid), "mallory")


def test_backup_flags_and_counters_set_through_the_api(lab):
    aid = add(lab, {"defaultBackupEligibility": True, "defaultBackupState": True})
    rp = RelyingParty()
    client = client_for(lab, aid)
    registered = rp.register(client, "bob")
    assert registered.credential_backed_up is True
    assert registered.credential_device_type == "multi_device"
    props = f"/webauthn/authenticator/{aid}/credentials/{b64(registered.credential_id)}/props"
    assert lab.call("POST", props, {"signCount": 41, "backupState": False})[0] == 200
    verified = rp.login(client, registered.credential_id)
    assert verified.new_sign_count == 42
    assert verified.credential_backed_up is False
    # A synced passkey: no counter, always 0, which py_webauthn accepts while it stays 0.
    zero = add(lab, {"counter": "zero"})
    zero_client = client_for(lab, zero)
    synced = rp.register(zero_client, "cleo")
    assert rp.login(zero_client, synced.credential_id).new_sign_count == 0


def test_the_rp_rejects_what_the_lab_injects(lab):
    aid = add(lab, {})
    rp = RelyingParty()
    client = client_for(lab, aid)
    registered = rp.register(client, "dave")
    rp.login(client, registered.credential_id)
    overrides = f"/webauthn/authenticator/{aid}/response-override-bits"

    assert lab.call("POST", overrides, {"isBogusSignature": True})[0] == 200
    with pytest.raises(InvalidAuthenticationResponse, match="[Ss]ignature"):
        rp.login(client, registered.credential_id)
    assert lab.call("POST", overrides, {"isBadUP": True})[0] == 200
    with pytest.raises(InvalidAuthenticationResponse, match="present"):
        rp.login(client, registered.credential_id)
    assert lab.call("POST", overrides, {})[0] == 200
    rp.login(client, registered.credential_id)

    # A cloned key: its counter goes back below what the RP last saw.
    props = f"/webauthn/authenticator/{aid}/credentials/{b64(registered.credential_id)}/props"
    assert lab.call("POST", props, {"signCount": 0})[0] == 200
    with pytest.raises(InvalidAuthenticationResponse, match="sign count"):
        rp.login(client, registered.credential_id)


def test_the_metadata_statement_is_a_trust_anchor(lab):
    """GET …/metadata: an MDS3-shaped statement naming the AAGUID, the key's getInfo and its CA
    as attestation root; an RP that trusts the statement's root verifies the key's batch
    attestation."""
    import base64
    import textwrap

    aid = add(lab, {"attestation": "batch", "aaguid": AAGUID})
    status, got = lab.call("GET", f"/webauthn/authenticator/{aid}/metadata")
    assert status == 200, got
    statement = got["value"]
    assert statement["aaguid"] == AAGUID
    assert statement["protocolFamily"] == "fido2" and statement["schema"] == 3
    assert statement["authenticatorGetInfo"]["aaguid"] == AAGUID.replace("-", "")
    assert "FIDO_2_1" in statement["authenticatorGetInfo"]["versions"]
    assert statement["attestationTypes"] == ["basic_full"]
    root = statement["attestationRootCertificates"][0]
    base64.b64decode(root, validate=True)
    pem = ("-----BEGIN CERTIFICATE-----\n" + "\n".join(textwrap.wrap(root, 64))
           + "\n-----END CERTIFICATE-----\n").encode()
    rp = RelyingParty(AttestationConveyancePreference.DIRECT, {AttestationFormat.PACKED: [pem]})
    registered = rp.register(client_for(lab, aid), "erin")
    assert registered.aaguid == AAGUID
