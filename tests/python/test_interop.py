"""python-fido2 2.x against a USB/IP FIDO device (softkey serve --presence auto).

The device is reached through usbip_hid.UsbipHidConnection, so python-fido2's own
CTAPHID and CTAP2 code runs unchanged; the RP side is fido2.server.Fido2Server.
The `device` fixture (conftest.py) serves a fresh key, or uses SOFTKEY_ADDR=host:port.
"""

from __future__ import annotations

import secrets

from fido2.client import DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.server import Fido2Server
from fido2.webauthn import (
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialUserEntity,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)


RP = PublicKeyCredentialRpEntity(name="Example", id="example.com")
ORIGIN = "https://example.com"
# No PIN on the device yet, so no user verification.
UV = UserVerificationRequirement.DISCOURAGED


def _client(device) -> Fido2Client:
    return Fido2Client(
        device,
        client_data_collector=DefaultClientDataCollector(ORIGIN),
        user_interaction=UserInteraction(),
    )


def _user(name: str) -> PublicKeyCredentialUserEntity:
    return PublicKeyCredentialUserEntity(
        id=secrets.token_bytes(16), name=name, display_name=name.title()
    )


def _register(client: Fido2Client, server: Fido2Server, user):
    options, state = server.register_begin(
        user,
        resident_key_requirement=ResidentKeyRequirement.REQUIRED,
        user_verification=UV,
    )
    response = client.make_credential(options.public_key)
    auth_data = server.register_complete(state, response)
    assert auth_data.is_user_present()
    assert auth_data.credential_data is not None
    return auth_data.credential_data


def _usernameless_login(client: Fido2Client, server: Fido2Server):
    """authenticate_begin with no credentials: an empty allowList."""
    options, state = server.authenticate_begin(user_verification=UV)
    assert not options.public_key.allow_credentials
    selection = client.get_assertion(options.public_key)
    return state, selection


def test_register_then_usernameless_login(device):
    client = _client(device)
    server = Fido2Server(RP)
    user = _user("alice")
    credential = _register(client, server, user)

    state, selection = _usernameless_login(client, server)
    assertions = selection.get_assertions()
    ids = [a.credential["id"] for a in assertions]
    assert credential.credential_id in ids
    index = ids.index(credential.credential_id)
    assert assertions[index].user["id"] == user.id

    response = selection.get_response(index)
    verified = server.authenticate_complete(state, [credential], response)
    assert verified.credential_id == credential.credential_id
    assert response.response.user_handle == user.id


def test_two_users_usernameless_login_returns_both(device):
    client = _client(device)
    server = Fido2Server(RP)
    users = [_user("bob"), _user("carol")]
    credentials = [_register(client, server, u) for u in users]

    state, selection = _usernameless_login(client, server)
    assertions = selection.get_assertions()
    by_id = {a.credential["id"]: (i, a) for i, a in enumerate(assertions)}
    for user, credential in zip(users, credentials):
        assert credential.credential_id in by_id, f"{user.name} missing from the selection"
        index, assertion = by_id[credential.credential_id]
        assert assertion.user["id"] == user.id
        # No user verification (no PIN on this key): the user id only, never
        # the name (CTAP 2.1 §6.2.2 step 12.3; SECURITY.md).
        assert "name" not in assertion.user and "displayName" not in assertion.user
        # Each account in the selection verifies on its own.
        response = selection.get_response(index)
        server.authenticate_complete(state, credentials, response)
