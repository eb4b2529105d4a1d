"""`softkey lab` end to end: the real binary, its HTTP API driven as an RP tester would (the W3C
WebDriver virtual-authenticator paths), and the authenticators it adds used over USB/IP by
python-fido2 as separate security keys.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import tempfile
import urllib.error
import urllib.request
from base64 import urlsafe_b64decode, urlsafe_b64encode
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from fido2.client import DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.server import Fido2Server

from test_interop import RP, _client, _register, _user, _usernameless_login
from softkey_lab import LabServer
from usbip_hid import open_device


def b64(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PinInteraction(UserInteraction):
    def __init__(self, pin: str):
        self.pin = pin

    def request_pin(self, permissions, rp_id):
        return self.pin

    def request_uv(self, permissions, rp_id):
        return True


def cli(lab, *args: str, stdin: str = "") -> str:
    """`softkey lab VERB ...` against this lab."""
    done = subprocess.run(
        [lab.binary, "lab", *args, "--api", lab.api.removeprefix("http://"),
         "--token-file", str(lab.token_file)],
        input=stdin, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def lab(request):
    """The softkey_lab package's fixture (clients/python): a fresh `softkey lab serve`."""
    if "SOFTKEY_BIN" not in os.environ:
        pytest.skip("SOFTKEY_BIN is not set (tests/interop.rs sets it)")
    return request.getfixturevalue("softkey_lab")


def test_the_token_file_goes_with_the_lab():
    if "SOFTKEY_BIN" not in os.environ:
        pytest.skip("SOFTKEY_BIN is not set (tests/interop.rs sets it)")
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp).chmod(0o700)
        with LabServer(Path(tmp)) as server:
            assert server.token_file.exists()
        assert not server.token_file.exists(), "the token file is removed at exit"


def test_the_api_needs_the_token_kept_private(lab):
    assert oct(lab.token_file.stat().st_mode & 0o777) == "0o600"
    status, body = lab.call("GET", "/webauthn/authenticators", token="not the token")
    assert status == 401 and body["value"]["error"] == "unauthorized"


def test_authenticators_are_separate_keys_with_w3c_credential_controls(lab):
    status, first = lab.call("POST", "/webauthn/authenticator", {"protocol": "ctap2_1", "transport": "usb"})
    assert status == 200, first
    status, second = lab.call("POST", "/webauthn/authenticator", {"hasResidentKey": True})
    assert status == 200, second
    one, two = first["value"], second["value"]
    assert (one, two) == ("1-1", "1-2")
    status, listed = lab.call("GET", "/webauthn/authenticators")
    assert [a["authenticatorId"] for a in listed["value"]] == [one, two]
    # An option the lab does not know is refused by name.
    status, refused = lab.call("POST", "/webauthn/authenticator", {"hasTeleporter": True})
    assert status == 400 and "hasTeleporter" in refused["value"]["message"]

    # Register on the first key over USB/IP; the API sees the credential, the second key does not.
    device = open_device("127.0.0.1", lab.usbip_port, one)
    rp = Fido2Server(RP)
    credential = _register(_client(device), rp, _user("alice"))
    status, creds = lab.call("GET", f"/webauthn/authenticator/{one}/credentials")
    assert status == 200 and len(creds["value"]) == 1
    got = creds["value"][0]
    assert got["rpId"] == RP.id and unb64(got["credentialId"]) == credential.credential_id
    assert got["isResidentCredential"] is True
    assert lab.call("GET", f"/webauthn/authenticator/{two}/credentials")[1]["value"] == []

    # Add Credential: a P-256 key of our own on the second key; it signs what its public key verifies.
    private = ec.generate_private_key(ec.SECP256R1())
    pkcs8 = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    credential_id, user_handle = secrets.token_bytes(32), secrets.token_bytes(16)
    status, added = lab.call("POST", f"/webauthn/authenticator/{two}/credential", {
        "credentialId": b64(credential_id), "isResidentCredential": True, "rpId": RP.id,
        "privateKey": b64(pkcs8), "userHandle": b64(user_handle), "signCount": 0,
        "userName": "bob"})
    assert status == 200, added
    status, again = lab.call("POST", f"/webauthn/authenticator/{two}/credential", {
        "credentialId": b64(credential_id), "isResidentCredential": True, "rpId": RP.id,
        "privateKey": b64(pkcs8), "userHandle": b64(user_handle)})
    assert status == 400, "the same credential id twice"
    device_two = open_device("127.0.0.1", lab.usbip_port, two)
    cdh = secrets.token_bytes(32)
    assertion = Ctap2(device_two).get_assertion(RP.id, cdh)
    assert assertion.credential["id"] == credential_id
    assert assertion.user["id"] == user_handle
    private.public_key().verify(assertion.signature, bytes(assertion.auth_data) + cdh,
                                ec.ECDSA(hashes.SHA256()))
    status, creds = lab.call("GET", f"/webauthn/authenticator/{two}/credentials")
    assert unb64(creds["value"][0]["privateKey"]) == pkcs8

    # isUserConsenting false: every test of presence is denied.
    assert lab.call("POST", f"/webauthn/authenticator/{one}/presence", {"isUserConsenting": False})[0] == 200
    with pytest.raises(CtapError) as denied:
        Ctap2(device).get_assertion(RP.id, secrets.token_bytes(32))
    assert denied.value.code == CtapError.ERR.OPERATION_DENIED
    assert lab.call("POST", f"/webauthn/authenticator/{one}/presence", {"isUserConsenting": True})[0] == 200
    state, selection = _usernameless_login(_client(device), rp)
    rp.authenticate_complete(state, [credential], selection.get_response(0))

    # Remove Credential, Remove All Credentials, and what is not there.
    path = f"/webauthn/authenticator/{one}/credentials/{b64(credential.credential_id)}"
    assert lab.call("DELETE", path)[0] == 200
    assert lab.call("DELETE", path)[0] == 404
    assert lab.call("GET", f"/webauthn/authenticator/{one}/credentials")[1]["value"] == []
    assert lab.call("DELETE", f"/webauthn/authenticator/{two}/credentials")[0] == 200
    assert lab.call("GET", f"/webauthn/authenticator/{two}/credentials")[1]["value"] == []
    assert lab.call("GET", "/webauthn/authenticator/9-9/credentials")[0] == 404

    # Remove Virtual Authenticator: the host sees it unplugged, the other stays.
    assert lab.call("DELETE", f"/webauthn/authenticator/{one}")[0] == 200
    assert lab.call("DELETE", f"/webauthn/authenticator/{one}")[0] == 404
    with pytest.raises(OSError):
        Ctap2(device).get_info()
    assert Ctap2(device_two).get_info().versions
    status, listed = lab.call("GET", "/webauthn/authenticators")
    assert [a["authenticatorId"] for a in listed["value"]] == [two]
    device.close()
    device_two.close()


def test_non_discoverable_and_large_blob_credentials(lab):
    """Add Credential with isResidentCredential false (found by its ID alone, no user in the
    assertion, invisible to a usernameless request) and with largeBlob (python-fido2's client reads
    the blob back through the largeBlob extension, as a browser would)."""
    aid = lab.add_authenticator()
    device = lab.open_device(aid)
    private = ec.generate_private_key(ec.SECP256R1())
    pkcs8 = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    server_side = secrets.token_bytes(40)
    lab.add_credential(aid, credentialId=b64(server_side), isResidentCredential=False, rpId=RP.id,
                       privateKey=b64(pkcs8), userHandle=b64(b"nd-user"), signCount=5)
    ctap = Ctap2(device)
    with pytest.raises(CtapError) as none:
        ctap.get_assertion(RP.id, secrets.token_bytes(32))
    assert none.value.code == CtapError.ERR.NO_CREDENTIALS, "not discoverable"
    cdh = secrets.token_bytes(32)
    assertion = ctap.get_assertion(RP.id, cdh, [{"type": "public-key", "id": server_side}])
    assert assertion.credential["id"] == server_side and assertion.user is None
    assert assertion.auth_data.counter == 6
    private.public_key().verify(assertion.signature, bytes(assertion.auth_data) + cdh,
                                ec.ECDSA(hashes.SHA256()))
    [listed] = lab.credentials(aid)
    assert listed["isResidentCredential"] is False and listed["signCount"] == 6
    lab.set_credential_properties(aid, b64(server_side), signCount=2)
    assert lab.credentials(aid)[0]["signCount"] == 2
    status, refused = lab.call("POST", f"/webauthn/authenticator/{aid}/credential", {
        "credentialId": b64(b"x"), "isResidentCredential": False, "rpId": RP.id,
        "privateKey": b64(pkcs8), "userHandle": b64(b"u"), "largeBlob": b64(b"blob")})
    assert status == 400 and "discoverable" in refused["value"]["message"]

    blob = b"a large blob, " * 200
    resident = secrets.token_bytes(16)
    lab.add_credential(aid, credentialId=b64(resident), isResidentCredential=True, rpId=RP.id,
                       privateKey=b64(pkcs8), userHandle=b64(b"lb-user"), largeBlob=b64(blob))
    described = [c for c in lab.credentials(aid) if c["isResidentCredential"]]
    assert unb64(described[0]["largeBlob"]) == blob
    from fido2.webauthn import UserVerificationRequirement

    options, _ = Fido2Server(RP).authenticate_begin(
        [{"type": "public-key", "id": resident}],
        user_verification=UserVerificationRequirement.DISCOURAGED)
    request = dict(options.public_key)
    request["extensions"] = {"largeBlob": {"read": True}}
    response = _client(device).get_assertion(request).get_response(0)
    assert unb64(response.client_extension_results["largeBlob"]["blob"]) == blob
    lab.remove_credential(aid, b64(server_side))
    assert [c["isResidentCredential"] for c in lab.credentials(aid)] == [True]
    lab.remove_all_credentials(aid)
    assert lab.credentials(aid) == []
    device.close()


def test_response_override_bits_make_a_relying_party_refuse(lab):
    """CDP setResponseOverrideBits: python-fido2's Fido2Server rejects each fault, and accepts the
    key again once they are off."""
    status, created = lab.call("POST", "/webauthn/authenticator", {})
    assert status == 200
    aid = created["value"]
    device = open_device("127.0.0.1", lab.usbip_port, aid)
    rp = Fido2Server(RP)
    credential = _register(_client(device), rp, _user("carol"))

    def login():
        state, selection = _usernameless_login(_client(device), rp)
        return rp.authenticate_complete(state, [credential], selection.get_response(0))

    login()
    path = f"/webauthn/authenticator/{aid}/response-override-bits"
    for bits, refusal in (({"isBogusSignature": True}, "Invalid signature"),
                          ({"isBadUP": True}, "User Present flag not set")):
        assert lab.call("POST", path, bits)[0] == 200
        with pytest.raises(ValueError, match=refusal):
            login()
    assert lab.call("POST", path, {"isBadUP": False})[0] == 200
    login()
    assert lab.call("POST", path, {"isBogus": True})[0] == 400
    device.close()


def test_counters_and_backup_flags_set_through_the_api(lab):
    """W3C signCount and backupEligibility/backupState: per-credential counters from 0, set
    forward, set back (a cloned key, for clone detection), or none at all (synced passkeys)."""
    status, created = lab.call("POST", "/webauthn/authenticator", {
        "defaultBackupEligibility": True, "defaultBackupState": True})
    assert status == 200, created
    aid = created["value"]
    device = open_device("127.0.0.1", lab.usbip_port, aid)
    rp = Fido2Server(RP)
    options, state = rp.register_begin(_user("dana"), resident_key_requirement="required",
                                       user_verification="discouraged")
    registration = _client(device).make_credential(options.public_key)
    auth_data = rp.register_complete(state, registration)
    credential = auth_data.credential_data
    assert auth_data.flags & 0x18 == 0x18, "BE and BS"
    assert auth_data.counter == 0

    def login():
        state, selection = _usernameless_login(_client(device), rp)
        response = selection.get_response(0)
        rp.authenticate_complete(state, [credential], response)
        return response.response.authenticator_data

    assert login().counter == 1
    assert login().counter == 2
    status, creds = lab.call("GET", f"/webauthn/authenticator/{aid}/credentials")
    got = creds["value"][0]
    assert (got["signCount"], got["backupEligibility"], got["backupState"]) == (2, True, True)

    props = f"/webauthn/authenticator/{aid}/credentials/{b64(credential.credential_id)}/props"
    assert lab.call("POST", props, {"signCount": 100, "backupState": False})[0] == 200
    data = login()
    assert data.counter == 101 and data.flags & 0x18 == 0x08
    assert lab.call("POST", props, {"signCount": 5})[0] == 200
    assert login().counter == 6, "a counter set back, as a cloned key's would be"
    assert lab.call("POST", props, {"signCount": None})[0] == 200
    assert login().counter == 0 and login().counter == 0
    assert lab.call("GET", f"/webauthn/authenticator/{aid}/credentials")[1]["value"][0]["signCount"] is None
    assert lab.call("POST", props, {"signCount": "many"})[0] == 400
    assert lab.call("POST", f"/webauthn/authenticator/{aid}/credentials/{b64(b'nope')}/props",
                    {"signCount": 1})[0] == 404
    device.close()


def test_without_automatic_presence_a_prompt_waits_for_a_touch(lab):
    """CDP automaticPresenceSimulation false: the key's prompt waits (the platform sees keepalives)
    until a touch through the API approves it, as a person would."""
    import threading

    status, created = lab.call("POST", "/webauthn/authenticator", {"automaticPresenceSimulation": False})
    assert status == 200
    aid = created["value"]
    device = open_device("127.0.0.1", lab.usbip_port, aid)
    result = {}

    def register():
        result["credential"] = _register(_client(device), Fido2Server(RP), _user("erin"))

    waiting = threading.Thread(target=register)
    waiting.start()
    status, touched = lab.call("POST", f"/webauthn/authenticator/{aid}/touch")
    assert status == 200, touched
    waiting.join(timeout=20)
    assert "credential" in result
    assert lab.call("POST", f"/webauthn/authenticator/{aid}/presence",
                    {"automaticPresenceSimulation": True})[0] == 200
    device.close()


def test_cli_verbs_cover_what_rp_test_scripts_do(lab):
    """`softkey lab add / list / pin / touch / credentials / reset / remove`: what SSSD-style
    scripts need (PIN set and cleared, a touch, a reset) without speaking HTTP."""
    import threading

    aid = cli(lab, "add", "--options", json.dumps({"automaticPresenceSimulation": False})).strip()
    assert aid == "1-1"
    assert json.loads(cli(lab, "list"))[0]["options"]["automaticPresenceSimulation"] is False
    cli(lab, "pin", aid, stdin="482910\n")
    device = open_device("127.0.0.1", lab.usbip_port, aid)
    ctap = Ctap2(device)
    assert ctap.get_info().options["clientPin"] is True
    result = {}

    def register():
        client = Fido2Client(device, client_data_collector=DefaultClientDataCollector("https://example.com"),
                             user_interaction=PinInteraction("482910"))
        rp = Fido2Server(RP)
        options, state = rp.register_begin(_user("fay"), resident_key_requirement="required")
        result["auth_data"] = rp.register_complete(state, client.make_credential(options.public_key))

    waiting = threading.Thread(target=register)
    waiting.start()
    cli(lab, "touch", aid)
    waiting.join(timeout=20)
    assert result["auth_data"].is_user_verified()
    assert len(json.loads(cli(lab, "credentials", aid))) == 1
    from fido2.ctap2.pin import ClientPin

    cli(lab, "pin", aid, "--retries", "2")
    assert ClientPin(Ctap2(device)).get_pin_retries()[0] == 2, "nearly blocked, no wrong PIN typed"
    cli(lab, "pin", aid, "--clear")
    assert Ctap2(device).get_info().options["clientPin"] is False
    assert len(json.loads(cli(lab, "credentials", aid))) == 1, "clearing the PIN keeps credentials"
    cli(lab, "reset", aid)
    assert json.loads(cli(lab, "credentials", aid)) == []
    cli(lab, "remove", aid)
    assert json.loads(cli(lab, "list")) == []
    done = subprocess.run([lab.binary, "lab", "touch", aid, "--api",
                           lab.api.removeprefix("http://"), "--token-file", str(lab.token_file)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0 and "no lab authenticator" in done.stderr
    device.close()


def test_events_say_what_each_authenticator_did(lab):
    from fido2.ctap2.pin import ClientPin

    _, first = lab.call("GET", "/webauthn/events")
    start = first["value"]["last"]
    aid = cli(lab, "add").strip()
    device = open_device("127.0.0.1", lab.usbip_port, aid)
    rp = Fido2Server(RP)
    credential = _register(_client(device), rp, _user("gus"))
    state, selection = _usernameless_login(_client(device), rp)
    rp.authenticate_complete(state, [credential], selection.get_response(0))
    cli(lab, "pin", aid, stdin="2468\n")
    with pytest.raises(CtapError):
        ClientPin(Ctap2(device)).get_pin_token("1357")
    status, got = lab.call("GET", f"/webauthn/events?after={start}&wait=5")
    assert status == 200
    kinds = [(e["type"], e["authenticatorId"]) for e in got["value"]["events"]]
    assert kinds == [("promptShown", aid), ("credentialAdded", aid), ("promptShown", aid),
                     ("credentialAsserted", aid), ("pinTried", aid)], kinds
    events = got["value"]["events"]
    assert unb64(events[1]["details"]["credentialId"]) == credential.credential_id
    assert events[0]["details"] == {"operation": "register", "rpId": RP.id, "userVerification": False}
    assert events[3]["details"]["signCount"] == 1
    assert events[4]["details"]["result"] == "wrong"
    # Nothing new: a wait ends empty, with the same last number.
    _, later = lab.call("GET", f"/webauthn/events?after={got['value']['last']}&wait=1")
    assert later["value"] == {"events": [], "last": got["value"]["last"]}
    assert lab.call("GET", "/webauthn/events?after=x")[0] == 400
    device.close()


def test_faults_statuses_delays_and_a_dropped_connection(lab):
    import time

    aid = cli(lab, "add").strip()
    device = open_device("127.0.0.1", lab.usbip_port, aid)
    ctap = Ctap2(device)
    faults = f"/webauthn/authenticator/{aid}/faults"
    # The next two CBOR requests get these statuses; the third is the key's own answer.
    assert lab.call("POST", faults, {"nextStatuses": [0x2F, 0x27]})[0] == 200
    for code in (CtapError.ERR.USER_ACTION_TIMEOUT, CtapError.ERR.OPERATION_DENIED):
        with pytest.raises(CtapError) as refused:
            ctap.get_assertion(RP.id, secrets.token_bytes(32))
        assert refused.value.code == code
    with pytest.raises(CtapError) as real:
        ctap.get_assertion(RP.id, secrets.token_bytes(32))
    assert real.value.code == CtapError.ERR.NO_CREDENTIALS
    # A delay: every request waits first.
    assert lab.call("POST", faults, {"delayMs": 400})[0] == 200
    started = time.monotonic()
    ctap.get_info()
    assert time.monotonic() - started >= 0.4
    # While it waits, the platform hears KEEPALIVEs, unless they are withheld.
    from fido2.hid import CTAPHID

    heard = []
    device.call(CTAPHID.CBOR, b"\x04", on_keepalive=heard.append)
    assert heard, "keepalives while the request waits"
    assert lab.call("POST", faults, {"withholdKeepalives": True})[0] == 200
    silent = []
    device.call(CTAPHID.CBOR, b"\x04", on_keepalive=silent.append)
    assert silent == []
    assert lab.call("POST", faults, {"delayMs": 0, "withholdKeepalives": False})[0] == 200
    assert lab.call("POST", faults, {"nextStatuses": [0]})[0] == 400
    # A dropped connection: the host sees the key unplugged; it is still there to attach.
    _, dropped = lab.call("POST", f"/webauthn/authenticator/{aid}/disconnect")
    assert dropped["value"] == {"wasAttached": True}
    with pytest.raises(OSError):
        Ctap2(device).get_info()
    device.close()
    again = None
    for _ in range(100):
        try:
            again = open_device("127.0.0.1", lab.usbip_port, aid)
            break
        except OSError:
            time.sleep(0.02)
    assert again is not None
    assert Ctap2(again).get_info().versions
    _, cycled = lab.call("POST", f"/webauthn/authenticator/{aid}/power-cycle")
    assert cycled["value"] == {"wasAttached": True}
    again.close()


def test_profiles_a_ctap_2_0_key_and_a_key_without_extensions(lab):
    """W3C protocol "ctap2" (CTAP 2.0) and the CDP extension switches: getInfo lists only what
    such a key has, and python-fido2 still registers on it."""
    old = lab.add_authenticator(protocol="ctap2")
    info = Ctap2(lab.open_device(old)).get_info()
    assert info.versions == ["U2F_V2", "FIDO_2_0"]
    assert "credMgmt" not in info.options and info.pin_uv_protocols == [1]
    assert lab.authenticators()[0]["options"]["ctap2Version"] == "ctap2_0"
    bare = lab.add_authenticator(hasCredBlob=False, hasLargeBlob=False, hasPrf=False, transport="nfc")
    info = Ctap2(lab.open_device(bare)).get_info()
    assert info.transports == ["nfc"], "declared, though reached over USB/IP"
    assert "credBlob" not in info.extensions and "hmac-secret" not in info.extensions
    assert "largeBlobs" not in info.options
    device = lab.open_device(old)
    _register(_client(device), Fido2Server(RP), _user("hal"))
    device.close()
    plain = lab.add_authenticator(hasResidentKey=False, attestation="none")
    plain_device = lab.open_device(plain)
    ctap = Ctap2(plain_device)
    info = ctap.get_info()
    assert info.options["rk"] is False and info.remaining_disc_creds == 0
    make = (secrets.token_bytes(32), {"id": RP.id}, {"id": b"u"}, [{"type": "public-key", "alg": -7}])
    with pytest.raises(CtapError) as no_rk:
        ctap.make_credential(*make, options={"rk": True})
    assert no_rk.value.code == CtapError.ERR.UNSUPPORTED_OPTION
    made = ctap.make_credential(*make)
    assert made.fmt == "none" and made.att_stmt == {}
    plain_device.close()
    strict = lab.add_authenticator(alwaysUv=True)
    info = Ctap2(lab.open_device(strict)).get_info()
    assert info.options["alwaysUv"] is True and info.options["makeCredUvNotRqd"] is False
    status, refused = lab.call("POST", f"/webauthn/authenticator/{strict}/pin", {"retries": 3})
    assert status == 400 and "PinNotSet" in refused["value"]["message"]
    new = lab.add_authenticator(protocol="ctap2", ctap2Version="ctap2_2")
    info = Ctap2(lab.open_device(new)).get_info()
    assert info.versions == ["U2F_V2", "FIDO_2_0", "FIDO_2_1", "FIDO_2_2"]
    assert "hmac-secret-mc" in info.extensions and info.options["perCredMgmtRO"]
    status, refused = lab.call("POST", "/webauthn/authenticator", {"ctap2Version": "ctap2_3"})
    assert status == 400 and "ctap2Version" in refused["value"]["message"]


def test_built_in_user_verification(lab):
    """W3C/CDP hasUserVerification and isUserVerified: python-fido2 gets its token from the key's
    built-in UV (getPinUvAuthTokenUsingUvWithPermissions), no PIN involved; a finger that does not
    match is CTAP2_ERR_UV_INVALID and costs a uvRetry; the W3C Set User Verified command
    (POST …/uv) makes the next one match, which restores the count."""
    from fido2.ctap2.pin import ClientPin
    from fido2.webauthn import ResidentKeyRequirement, UserVerificationRequirement

    aid = lab.add_authenticator(hasUserVerification=True, isUserVerified=True)
    assert lab.authenticators()[0]["options"]["hasUserVerification"] is True
    device = lab.open_device(aid)
    ctap2 = Ctap2(device)
    info = ctap2.get_info()
    assert info.options["uv"] is True and info.options["clientPin"] is False
    rp = Fido2Server(RP)
    client = _client(device)
    options, state = rp.register_begin(
        _user("uma"),
        resident_key_requirement=ResidentKeyRequirement.REQUIRED,
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    registered = rp.register_complete(state, client.make_credential(options.public_key))
    assert registered.is_user_verified() and registered.is_user_present()

    lab.value("POST", f"/webauthn/authenticator/{aid}/uv", {"isUserVerified": False})
    pin = ClientPin(ctap2)
    with pytest.raises(CtapError) as refused:
        pin.get_uv_token(ClientPin.PERMISSION.GET_ASSERTION, RP.id)
    assert refused.value.code == CtapError.ERR.UV_INVALID
    assert pin.get_uv_retries() == 7
    verdicts = [e["details"]["result"] for e in lab.events()["events"] if e["type"] == "userVerified"]
    assert verdicts == ["matched", "not matched"]

    lab.set_presence(aid, isUserVerified=True)
    options, state = rp.authenticate_begin(user_verification=UserVerificationRequirement.REQUIRED)
    response = client.get_assertion(options.public_key).get_response(0)
    rp.authenticate_complete(state, [registered.credential_data], response)
    assert response.response.authenticator_data.is_user_verified()
    assert pin.get_uv_retries() == 8
    device.close()


def test_a_u2f_only_key(lab):
    """W3C protocol "ctap1/u2f": CTAPHID INIT offers no CBOR, CTAP2 is refused, U2F registers and
    authenticates."""
    from fido2.ctap1 import Ctap1
    from fido2.hid import CAPABILITY

    aid = lab.add_authenticator(protocol="ctap1/u2f")
    device = lab.open_device(aid)
    assert not device.capabilities & CAPABILITY.CBOR
    with pytest.raises(ValueError):
        Ctap2(device)
    u2f = Ctap1(device)
    app, challenge = secrets.token_bytes(32), secrets.token_bytes(32)
    registration = u2f.register(challenge, app)
    registration.verify(app, challenge)
    signed = u2f.authenticate(challenge, app, registration.key_handle)
    signed.verify(app, challenge, registration.public_key)
    assert lab.authenticators()[0]["options"]["protocol"] == "ctap1/u2f"
    device.close()
