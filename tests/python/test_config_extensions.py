"""authenticatorConfig, selection, and the extensions test_ctap21.py does not cover (credBlob,
minPinLength, hmac-secret-mc) through python-fido2 against the real `softkey serve`."""

from __future__ import annotations

import secrets

import pytest
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from fido2.ctap2.config import Config
from fido2.ctap2.pin import ClientPin
from fido2.server import Fido2Server

from test_ctap21 import PIN, REQUIRED, RP, client, register, set_pin


def config(device) -> tuple[Ctap2, Config]:
    ctap = Ctap2(device)
    pin = ClientPin(ctap)
    token = pin.get_pin_token(PIN, ClientPin.PERMISSION.AUTHENTICATOR_CFG)
    return ctap, Config(ctap, pin.protocol, token)


def test_selection_answers_after_a_touch(device):
    Ctap2(device).selection()


def test_set_min_pin_length_forces_a_pin_change(device):
    set_pin(device)
    ctap, cfg = config(device)
    cfg.set_min_pin_length(min_pin_length=8, rp_ids=["example.com"], force_change_pin=True)
    info = Ctap2(device).info
    assert info.min_pin_length == 8 and info.force_pin_change is True
    pin = ClientPin(Ctap2(device))
    # The right PIN under forcePINChange: getPinUvAuthTokenUsingPinWithPermissions
    # says PIN_POLICY_VIOLATION (§6.5.5.7.2 step 10), the legacy getPinToken
    # PIN_INVALID (§6.5.5.7.1, as python-fido2's own device suite expects).
    with pytest.raises(CtapError) as e:
        pin.get_pin_token(PIN, ClientPin.PERMISSION.CREDENTIAL_MGMT)
    assert e.value.code == CtapError.ERR.PIN_POLICY_VIOLATION
    with pytest.raises(CtapError) as e:
        pin.get_pin_token(PIN)
    assert e.value.code == CtapError.ERR.PIN_INVALID
    with pytest.raises(CtapError) as e:
        pin.change_pin(PIN, "1234567")  # 7 < 8
    assert e.value.code == CtapError.ERR.PIN_POLICY_VIOLATION
    pin.change_pin(PIN, "12345678")
    assert Ctap2(device).info.force_pin_change is False
    # Lowering the minimum is refused (§6.11.4).
    _, cfg = config_with(device, "12345678")
    with pytest.raises(CtapError) as e:
        cfg.set_min_pin_length(min_pin_length=4)
    assert e.value.code == CtapError.ERR.PIN_POLICY_VIOLATION

    # The minPinLength extension reports it to the listed RP.
    auth_data, _ = register_with_pin(device, "12345678", extensions={"minPinLength": True})
    assert auth_data.extensions.get("minPinLength") == 8


def config_with(device, pin_text: str):
    ctap = Ctap2(device)
    pin = ClientPin(ctap)
    token = pin.get_pin_token(pin_text, ClientPin.PERMISSION.AUTHENTICATOR_CFG)
    return ctap, Config(ctap, pin.protocol, token)


def register_with_pin(device, pin_text, extensions):
    from test_ctap21 import PinEntry, user
    from fido2.client import DefaultClientDataCollector, Fido2Client
    from fido2.webauthn import ResidentKeyRequirement

    server = Fido2Server(RP)
    options, state = server.register_begin(
        user("kim"), resident_key_requirement=ResidentKeyRequirement.REQUIRED,
        user_verification=REQUIRED, extensions=extensions)
    fido = Fido2Client(device, DefaultClientDataCollector("https://example.com"), PinEntry(pin_text))
    response = fido.make_credential(options.public_key)
    return server.register_complete(state, response), response


def test_toggle_always_uv(device):
    set_pin(device)
    _, cfg = config(device)
    cfg.toggle_always_uv()
    ctap = Ctap2(device)
    assert ctap.info.options["alwaysUv"] is True
    # Without UV a registration is refused: PUAT_REQUIRED.
    with pytest.raises(CtapError) as e:
        ctap.make_credential(secrets.token_bytes(32), {"id": "example.com"}, {"id": b"u", "name": "u"},
                             [{"type": "public-key", "alg": -7}])
    assert e.value.code == CtapError.ERR.PUAT_REQUIRED
    _, cfg = config(device)
    cfg.toggle_always_uv()
    assert Ctap2(device).info.options["alwaysUv"] is False


def test_cred_blob_is_stored_and_returned(device):
    set_pin(device)
    server = Fido2Server(RP)
    blob = secrets.token_bytes(32)
    auth_data, _ = register(device, server, "lee", extensions={"credBlob": blob})
    assert auth_data.extensions.get("credBlob") is True
    options, _ = server.authenticate_begin([auth_data.credential_data], user_verification=REQUIRED,
                                           extensions={"getCredBlob": True})
    response = client(device).get_assertion(options.public_key).get_response(0)
    assert response.response.authenticator_data.extensions.get("credBlob") == blob


def test_hmac_secret_mc_matches_the_later_assertion(device):
    set_pin(device)
    server = Fido2Server(RP)
    salt = secrets.token_bytes(32)
    auth_data, reg = register(device, server, "max", extensions={"prf": {"eval": {"first": salt}}})
    at_registration = reg.client_extension_results.prf.results.first
    options, _ = server.authenticate_begin([auth_data.credential_data], user_verification=REQUIRED,
                                           extensions={"prf": {"eval": {"first": salt}}})
    at_login = client(device).get_assertion(options.public_key).get_response(0)
    assert at_login.client_extension_results.prf.results.first == at_registration
