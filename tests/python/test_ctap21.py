"""CTAP 2.1 through python-fido2 2.x against the real `softkey serve` (conftest.py).

Every feature getInfo advertises is exercised here the way python-fido2's own clients use it:
PIN set/change and lockout, user verification, credential management, hmac-secret (PRF),
credProtect, large blobs, EdDSA, reset and its 10 s window, and CTAP1/U2F.
"""

from __future__ import annotations

import hashlib
import secrets
import time

import pytest
from fido2.client import ClientError, DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.ctap import CtapError
from fido2.ctap1 import ApduError, Ctap1
from fido2.ctap2 import Ctap2
from fido2.ctap2.blob import LargeBlobs
from fido2.ctap2.credman import CredentialManagement
from fido2.ctap2.pin import ClientPin, PinProtocolV1, PinProtocolV2
from fido2.server import Fido2Server
from fido2.webauthn import (
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialParameters,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialType,
    PublicKeyCredentialUserEntity,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

PIN = "4711-softkey"
RP = PublicKeyCredentialRpEntity(name="Example", id="example.com")
ORIGIN = "https://example.com"
REQUIRED = UserVerificationRequirement.REQUIRED


class PinEntry(UserInteraction):
    """A user who knows the PIN and touches the key (presence is auto on the server)."""

    def __init__(self, pin: str = PIN):
        self.pin = pin

    def request_pin(self, permissions, rp_id):
        return self.pin

    def request_uv(self, permissions, rp_id):
        return True


def client(dev, pin: str = PIN) -> Fido2Client:
    return Fido2Client(dev, DefaultClientDataCollector(ORIGIN), PinEntry(pin))


def user(name: str) -> PublicKeyCredentialUserEntity:
    return PublicKeyCredentialUserEntity(id=secrets.token_bytes(16), name=name, display_name=name.title())


def register(dev, server: Fido2Server, name: str, uv=REQUIRED, extensions=None):
    options, state = server.register_begin(
        user(name),
        resident_key_requirement=ResidentKeyRequirement.REQUIRED,
        user_verification=uv,
        extensions=extensions,
    )
    response = client(dev).make_credential(options.public_key)
    auth_data = server.register_complete(state, response)
    return auth_data, response


def set_pin(dev) -> Ctap2:
    ctap = Ctap2(dev)
    ClientPin(ctap).set_pin(PIN)
    return Ctap2(dev)  # re-reads getInfo


def err(excinfo) -> int:
    e = excinfo.value
    while not isinstance(e, CtapError) and (getattr(e, "cause", None) or e.__cause__):
        e = getattr(e, "cause", None) or e.__cause__
    assert isinstance(e, CtapError), repr(excinfo.value)
    return e.code


def test_get_info_advertises_ctap21(device):
    info = Ctap2(device).info
    assert {"U2F_V2", "FIDO_2_0", "FIDO_2_1"} <= set(info.versions)
    assert {"credProtect", "hmac-secret", "credBlob", "largeBlobKey", "minPinLength"} <= set(
        info.extensions
    )
    for option in ("rk", "up", "pinUvAuthToken", "credMgmt", "authnrCfg", "largeBlobs",
                   "makeCredUvNotRqd", "setMinPINLength"):
        assert info.options.get(option) is True, option
    assert info.options.get("clientPin") is False  # supported, not set yet
    assert list(info.pin_uv_protocols) == [2, 1]
    assert {-7, -8} <= {a["alg"] for a in info.algorithms}
    assert info.max_cred_blob_length >= 32
    assert info.min_pin_length >= 4


@pytest.mark.parametrize("protocol", [PinProtocolV2, PinProtocolV1])
def test_pin_set_change_and_retries(device, protocol):
    ctap = Ctap2(device)
    pin = ClientPin(ctap, protocol())
    pin.set_pin(PIN)
    assert Ctap2(device).info.options["clientPin"] is True
    assert pin.get_pin_retries()[0] == 8
    with pytest.raises(CtapError) as e:
        pin.get_pin_token("wrong-pin")
    assert e.value.code == CtapError.ERR.PIN_INVALID
    assert pin.get_pin_retries()[0] == 7
    pin.change_pin(PIN, "new-pin-2468")
    assert pin.get_pin_retries()[0] == 8
    with pytest.raises(CtapError) as e:
        pin.get_pin_token(PIN)
    assert e.value.code == CtapError.ERR.PIN_INVALID
    assert pin.get_pin_token("new-pin-2468", ClientPin.PERMISSION.GET_ASSERTION, "example.com")


def test_uv_registration_and_usernameless_login(device):
    set_pin(device)
    server = Fido2Server(RP)
    auth_data, _ = register(device, server, "alice")
    assert auth_data.is_user_verified()
    credential = auth_data.credential_data

    options, state = server.authenticate_begin(user_verification=REQUIRED)
    selection = client(device).get_assertion(options.public_key)
    response = selection.get_response(0)
    verified = server.authenticate_complete(state, [credential], response)
    assert verified.credential_id == credential.credential_id
    assert response.response.authenticator_data.is_user_verified()


def test_pin_lockout_survives_a_restart_and_clears_on_power_cycle(vault_server):
    dev = vault_server.open()
    set_pin(dev)
    pin = ClientPin(Ctap2(dev))
    for expected in (CtapError.ERR.PIN_INVALID, CtapError.ERR.PIN_INVALID,
                     CtapError.ERR.PIN_AUTH_BLOCKED):
        with pytest.raises(CtapError) as e:
            pin.get_pin_token("wrong-pin")
        assert e.value.code == expected
    # Blocked until a power cycle, even with the right PIN; retries stay spent.
    with pytest.raises(CtapError) as e:
        pin.get_pin_token(PIN)
    assert e.value.code == CtapError.ERR.PIN_AUTH_BLOCKED
    assert pin.get_pin_retries()[0] == 5
    dev.close()

    # A crash and a new process: the three guesses are still spent (retries live in the
    # vault, decremented before each compare), but the power cycle lifts the block.
    vault_server.restart()
    dev = vault_server.open()
    pin = ClientPin(Ctap2(dev))
    assert pin.get_pin_retries()[0] == 5
    assert pin.get_pin_token(PIN)
    assert pin.get_pin_retries()[0] == 8

    # Re-attaching (USB/IP detach + attach) is a power cycle too.
    for _ in range(3):
        with pytest.raises(CtapError):
            pin.get_pin_token("wrong-pin")
    dev.close()
    dev = vault_server.open()
    assert ClientPin(Ctap2(dev)).get_pin_token(PIN)
    dev.close()


def test_credential_management_lists_and_deletes(device):
    ctap = set_pin(device)
    server = Fido2Server(RP)
    other = Fido2Server(PublicKeyCredentialRpEntity(name="Other", id="other.example.com"))
    register(device, server, "ann")
    second, _ = register(device, server, "bob")
    options, state = other.register_begin(user("cy"), resident_key_requirement=ResidentKeyRequirement.REQUIRED, user_verification=REQUIRED)
    Fido2Client(device, DefaultClientDataCollector("https://other.example.com"), PinEntry()).make_credential(options.public_key)

    pin = ClientPin(ctap)
    token = pin.get_pin_token(PIN, ClientPin.PERMISSION.CREDENTIAL_MGMT)
    credman = CredentialManagement(ctap, pin.protocol, token)
    metadata = credman.get_metadata()
    assert metadata[CredentialManagement.RESULT.EXISTING_CRED_COUNT] == 3
    rps = credman.enumerate_rps()
    assert sorted(r[CredentialManagement.RESULT.RP]["id"] for r in rps) == [
        "example.com", "other.example.com"]
    creds = credman.enumerate_creds(hashlib.sha256(b"example.com").digest())
    names = sorted(c[CredentialManagement.RESULT.USER]["name"] for c in creds)
    assert names == ["ann", "bob"]

    victim = PublicKeyCredentialDescriptor(
        type=PublicKeyCredentialType.PUBLIC_KEY, id=second.credential_data.credential_id)
    credman.delete_cred(victim)
    assert credman.get_metadata()[CredentialManagement.RESULT.EXISTING_CRED_COUNT] == 2
    remaining = credman.enumerate_creds(hashlib.sha256(b"example.com").digest())
    assert [c[CredentialManagement.RESULT.USER]["name"] for c in remaining] == ["ann"]


def test_hmac_secret_prf_is_stable_per_salt(device):
    set_pin(device)
    server = Fido2Server(RP)
    auth_data, reg = register(device, server, "dora", extensions={"prf": {}})
    assert reg.client_extension_results.prf.enabled is True

    def prf(salt: bytes) -> bytes:
        options, _ = server.authenticate_begin([auth_data.credential_data], user_verification=REQUIRED,
                                               extensions={"prf": {"eval": {"first": salt}}})
        result = client(device).get_assertion(options.public_key).get_response(0)
        return result.client_extension_results.prf.results.first

    one, two = secrets.token_bytes(32), secrets.token_bytes(32)
    first = prf(one)
    assert len(first) == 32
    assert prf(one) == first, "the same salt gives the same secret"
    assert prf(two) != first, "another salt gives another secret"


def test_cred_protect_level_3_is_invisible_without_uv(device):
    ctap = set_pin(device)
    server = Fido2Server(RP)
    register(device, server, "eve", extensions={
        "credentialProtectionPolicy": "userVerificationRequired",
        "enforceCredentialProtectionPolicy": True,
    })
    # Without UV (no pinUvAuthParam) a username-less lookup must not see it.
    with pytest.raises(CtapError) as e:
        ctap.get_assertion("example.com", secrets.token_bytes(32))
    assert e.value.code == CtapError.ERR.NO_CREDENTIALS
    # With UV it is there.
    options, state = server.authenticate_begin(user_verification=REQUIRED)
    assert client(device).get_assertion(options.public_key).get_response(0)


def test_large_blob_write_then_read(device):
    set_pin(device)
    server = Fido2Server(RP)
    auth_data, reg = register(device, server, "fay", extensions={"largeBlob": {"support": "required"}})
    assert reg.client_extension_results.largeBlob.supported is True
    credential = auth_data.credential_data
    data = b"softkey large blob " + secrets.token_bytes(300)

    options, _ = server.authenticate_begin([credential], user_verification=REQUIRED,
                                           extensions={"largeBlob": {"write": data}})
    written = client(device).get_assertion(options.public_key).get_response(0)
    assert written.client_extension_results.largeBlob.written is True

    options, _ = server.authenticate_begin([credential], user_verification=REQUIRED,
                                           extensions={"largeBlob": {"read": True}})
    read = client(device).get_assertion(options.public_key).get_response(0)
    assert read.client_extension_results.largeBlob.blob == data

    # The raw array verifies its integrity hash through python-fido2's LargeBlobs too.
    ctap = Ctap2(device)
    assert len(LargeBlobs(ctap).read_blob_array()) == 1


def test_eddsa_credentials(device):
    set_pin(device)
    server = Fido2Server(RP)
    server.allowed_algorithms = [
        PublicKeyCredentialParameters(type=PublicKeyCredentialType.PUBLIC_KEY, alg=-8)]
    auth_data, _ = register(device, server, "gus")
    assert auth_data.credential_data.public_key[3] == -8
    options, state = server.authenticate_begin([auth_data.credential_data], user_verification=REQUIRED)
    response = client(device).get_assertion(options.public_key).get_response(0)
    server.authenticate_complete(state, [auth_data.credential_data], response)


def test_reset_only_within_ten_seconds_of_power_up(server):
    dev = server.open()
    set_pin(dev)
    register(dev, Fido2Server(RP), "hal")
    dev.close()

    dev = server.open()  # attach = power-up: the window opens
    ctap = Ctap2(dev)
    ctap.reset()
    ctap = Ctap2(dev)
    assert ctap.info.options["clientPin"] is False, "reset forgets the PIN"
    with pytest.raises(CtapError) as e:
        ctap.get_assertion("example.com", secrets.token_bytes(32))
    assert e.value.code == CtapError.ERR.NO_CREDENTIALS

    time.sleep(10.5)
    with pytest.raises(CtapError) as e:
        ctap.reset()
    assert e.value.code == CtapError.ERR.NOT_ALLOWED
    dev.close()


def test_u2f_register_and_authenticate(device):
    ctap1 = Ctap1(device)
    assert ctap1.get_version() == "U2F_V2"
    app_param = hashlib.sha256(b"u2f.example.com").digest()
    client_param = secrets.token_bytes(32)
    registration = ctap1.register(client_param, app_param)
    registration.verify(app_param, client_param)

    challenge = secrets.token_bytes(32)
    signature = ctap1.authenticate(challenge, app_param, registration.key_handle)
    signature.verify(app_param, challenge, registration.public_key)
    assert signature.user_presence & 1
    again = ctap1.authenticate(challenge, app_param, registration.key_handle)
    assert again.counter > signature.counter

    with pytest.raises(ApduError) as e:
        ctap1.authenticate(challenge, app_param, registration.key_handle, check_only=True)
    assert e.value.code == 0x6985  # "the key handle is mine; test of presence not given"
    with pytest.raises(ApduError) as e:
        ctap1.authenticate(challenge, hashlib.sha256(b"other").digest(), registration.key_handle)
    assert e.value.code == 0x6A80

    # The U2F key handle works in CTAP2 getAssertion for the matching rp id.
    assertion = Ctap2(device).get_assertion(
        "u2f.example.com", secrets.token_bytes(32),
        allow_list=[{"type": "public-key", "id": registration.key_handle}])
    assert assertion.credential["id"] == registration.key_handle


def test_unknown_commands_and_subcommands_get_errors_not_hangs(device):
    ctap = Ctap2(device)
    for command in (0x03, 0x09, 0x0E, 0x40, 0x42, 0xBF):
        with pytest.raises(CtapError) as e:
            ctap.send_cbor(command)
        assert e.value.code == CtapError.ERR.INVALID_COMMAND, hex(command)
    with pytest.raises(CtapError) as e:
        ctap.client_pin(2, 0x7F)
    assert e.value.code in (CtapError.ERR.INVALID_SUBCOMMAND, CtapError.ERR.INVALID_PARAMETER)
    rs256_only = Fido2Server(RP)
    rs256_only.allowed_algorithms = [
        PublicKeyCredentialParameters(type=PublicKeyCredentialType.PUBLIC_KEY, alg=-257)]
    options, _ = rs256_only.register_begin(
        user("ida"), user_verification=UserVerificationRequirement.DISCOURAGED)
    with pytest.raises(ClientError) as e:
        client(device).make_credential(options.public_key)
    assert err(e) == CtapError.ERR.UNSUPPORTED_ALGORITHM
