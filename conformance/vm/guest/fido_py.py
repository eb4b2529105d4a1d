"""python-fido2 checks run inside the test guest against the kernel's /dev/hidraw* node.

Each subcommand prints what it did and exits 0 on success, non-zero with a reason on failure:

  register-login [--uv discouraged|required] [--pin PIN]
      Fido2Client registration with residentKey=required, then a username-less login
      (empty allowList), both verified by Fido2Server.
  ping-loop --stop-file F [--size N]
      CTAPHID PING in a loop until the device goes away or F exists; prints the count and
      the error that ended it (exit 0 if it ended by a device error after >= 1 ping).
  u2f
      CTAP1/U2F register + authenticate through fido2.ctap1.Ctap1.
  ping-max --path P [--count N] [--size B]
      N CTAPHID PINGs of B bytes (default the largest message, 7609 bytes: 130 reports
      each way) on the device at P; every echo must be exact.
  cancel --path P [--after S]
      A makeCredential on the device at P whose presence prompt nobody answers; after S
      seconds python-fido2 sends CTAPHID_CANCEL. Expects KEEPALIVEs (UPNEEDED) meanwhile and
      CTAP2_ERR_KEEPALIVE_CANCEL as the answer.
  large-blob --path P --pin PIN [--size B]
      A large blob of B random bytes (default 5000) stored for a random largeBlobKey with a
      PIN token, then read back, on the device at P. python-fido2 writes and reads the array
      in fragments of maxMsgSize - 64, so every request keeps to the maxMsgSize getInfo gave.
  info
      The device list and the getInfo python-fido2 parsed.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time

from fido2.hid import CtapHidDevice

RP_ID = "vm.softkey.test"
ORIGIN = "https://vm.softkey.test"


def only_device() -> CtapHidDevice:
    devices = list(CtapHidDevice.list_devices())
    if len(devices) != 1:
        sys.exit(f"expected exactly one FIDO HID device, found {len(devices)}: {devices}")
    dev = devices[0]
    print(f"device: {dev.descriptor.path} ({dev.product_name!r}, {dev.descriptor.vid:04x}:{dev.descriptor.pid:04x})")
    return dev


def cmd_info(_args) -> int:
    from fido2.ctap2 import Ctap2

    dev = only_device()
    info = Ctap2(dev).get_info()
    print(f"versions={info.versions} aaguid={info.aaguid} options={info.options}")
    return 0


class _Interaction:
    """UserInteraction that answers the PIN prompt (used once clientPIN exists)."""

    def __init__(self, pin: str | None):
        self.pin = pin

    def prompt_up(self) -> None:
        print("  (touch requested: the server approves with --presence auto)")

    def request_pin(self, permissions, rp_id):  # noqa: ARG002 - python-fido2 signature
        return self.pin

    def request_uv(self, permissions, rp_id):  # noqa: ARG002
        return True


def cmd_register_login(args) -> int:
    from fido2.client import DefaultClientDataCollector, Fido2Client
    from fido2.server import Fido2Server
    from fido2.webauthn import (
        PublicKeyCredentialRpEntity,
        PublicKeyCredentialUserEntity,
        ResidentKeyRequirement,
        UserVerificationRequirement,
    )

    uv = UserVerificationRequirement(args.uv)
    dev = only_device()
    client = Fido2Client(
        dev,
        client_data_collector=DefaultClientDataCollector(ORIGIN),
        user_interaction=_Interaction(args.pin),
    )
    server = Fido2Server(PublicKeyCredentialRpEntity(name="softkey VM test", id=RP_ID))
    user = PublicKeyCredentialUserEntity(id=secrets.token_bytes(16), name="alice", display_name="Alice")

    t0 = time.monotonic()
    options, state = server.register_begin(
        user, resident_key_requirement=ResidentKeyRequirement.REQUIRED, user_verification=uv
    )
    response = client.make_credential(options.public_key)
    auth_data = server.register_complete(state, response)
    cred = auth_data.credential_data
    if cred is None or not auth_data.is_user_present():
        sys.exit("registration: no attested credential data or UP flag clear")
    if uv == UserVerificationRequirement.REQUIRED and not auth_data.is_user_verified():
        sys.exit("registration: UV required but the UV flag is clear")
    print(f"registered: credential {cred.credential_id.hex()[:16]}... alg {cred.public_key[3]} "
          f"fmt {response.response.attestation_object.fmt} ({time.monotonic() - t0:.2f}s)")

    t0 = time.monotonic()
    options, state = server.authenticate_begin(user_verification=uv)
    if options.public_key.allow_credentials:
        sys.exit("authenticate_begin put credentials in the allowList")
    selection = client.get_assertion(options.public_key)
    assertions = selection.get_assertions()
    ids = [a.credential["id"] for a in assertions]
    if cred.credential_id not in ids:
        sys.exit(f"username-less login: the new credential is not among {len(ids)} returned")
    index = ids.index(cred.credential_id)
    login = selection.get_response(index)
    verified = server.authenticate_complete(state, [cred], login)
    if verified.credential_id != cred.credential_id:
        sys.exit("Fido2Server verified another credential")
    if login.response.user_handle != user.id:
        sys.exit("username-less login: wrong user handle")
    print(f"username-less login: {len(assertions)} account(s), user {assertions[index].user.get('name')!r}, "
          f"signature verified by Fido2Server ({time.monotonic() - t0:.2f}s)")
    return 0


def cmd_ping_loop(args) -> int:
    dev = only_device()
    payload = os.urandom(args.size)
    count = 0
    started = False
    try:
        while not os.path.exists(args.stop_file):
            if dev.ping(payload) != payload:
                sys.exit(f"PING {count}: echo differs")
            count += 1
            if not started and args.ready_file:
                open(args.ready_file, "w").close()
                started = True
    except Exception as exc:  # the device vanishing surfaces as OSError or a CtapError
        print(f"ping loop ended after {count} pings by {type(exc).__name__}: {exc}")
        return 0 if count > 0 else 1
    print(f"ping loop stopped by the stop file after {count} pings (no device error)")
    return 3


def cmd_u2f(_args) -> int:
    from cryptography.hazmat.primitives import hashes
    from fido2.ctap1 import Ctap1

    dev = only_device()
    ctap1 = Ctap1(dev)
    print(f"U2F version: {ctap1.get_version()}")

    def sha(data: bytes) -> bytes:
        digest = hashes.Hash(hashes.SHA256())
        digest.update(data)
        return digest.finalize()

    app = sha(RP_ID.encode())
    reg = ctap1.register(sha(b"register challenge"), app)
    reg.verify(app, sha(b"register challenge"))
    challenge = sha(b"authenticate challenge")
    sig = ctap1.authenticate(challenge, app, reg.key_handle)
    sig.verify(app, challenge, reg.public_key)
    print(f"U2F register + authenticate verified (counter {sig.counter})")
    return 0


def device_at(path: str) -> CtapHidDevice:
    for dev in CtapHidDevice.list_devices():
        if dev.descriptor.path == path:
            return dev
    sys.exit(f"no FIDO HID device at {path}")


def cmd_ping_max(args) -> int:
    dev = device_at(args.path)
    started = time.monotonic()
    for i in range(args.count):
        payload = os.urandom(args.size)
        try:
            echo = dev.ping(payload)
        except Exception as exc:
            sys.exit(f"PING {i + 1} of {args.count} ({args.size} bytes): {type(exc).__name__}: {exc}")
        if echo != payload:
            sys.exit(f"PING {i + 1} of {args.size} bytes: the echo differs")
    took = time.monotonic() - started
    print(f"{args.count} PINGs of {args.size} bytes echoed exactly ({took / args.count * 1000:.0f} ms each)")
    return 0


def cmd_cancel(args) -> int:
    import threading

    from fido2.ctap import CtapError
    from fido2.ctap2 import Ctap2

    dev = device_at(args.path)
    keepalives = []
    cancel = threading.Event()
    threading.Timer(args.after, cancel.set).start()
    started = time.monotonic()
    try:
        Ctap2(dev).make_credential(
            os.urandom(32),
            {"id": RP_ID, "name": "softkey VM"},
            {"id": b"cancel", "name": "cancel"},
            [{"type": "public-key", "alg": -7}],
            event=cancel,
            on_keepalive=keepalives.append,
        )
    except CtapError as exc:
        took = time.monotonic() - started
        if exc.code != CtapError.ERR.KEEPALIVE_CANCEL:
            sys.exit(f"expected KEEPALIVE_CANCEL, got {exc.code!r}")
        if 2 not in keepalives:
            sys.exit(f"no KEEPALIVE with UPNEEDED before the cancel: {keepalives}")
        print(f"{len(keepalives)} KEEPALIVEs (statuses {sorted(set(keepalives))}), then CANCEL "
              f"answered with KEEPALIVE_CANCEL after {took:.2f} s")
        return 0
    sys.exit("makeCredential succeeded although nobody approved it")


def cmd_large_blob(args) -> int:
    from fido2.ctap2 import Ctap2
    from fido2.ctap2.blob import LargeBlobs
    from fido2.ctap2.pin import ClientPin

    ctap = Ctap2(device_at(args.path))
    client_pin = ClientPin(ctap)
    token = client_pin.get_pin_token(args.pin, ClientPin.PERMISSION.LARGE_BLOB_WRITE)
    blobs = LargeBlobs(ctap, client_pin.protocol, token)
    key, data = os.urandom(32), os.urandom(args.size)
    started = time.monotonic()
    blobs.put_blob(key, data)
    if blobs.get_blob(key) != data:
        sys.exit(f"the {args.size}-byte large blob read back differs")
    took = time.monotonic() - started
    print(f"a {args.size}-byte large blob written and read back in fragments of "
          f"{blobs.max_fragment_length} bytes (maxMsgSize {ctap.info.max_msg_size}), {took:.2f} s")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("info")
    p = sub.add_parser("register-login")
    p.add_argument("--uv", default="discouraged", choices=["discouraged", "preferred", "required"])
    p.add_argument("--pin")
    p = sub.add_parser("ping-loop")
    p.add_argument("--stop-file", required=True)
    p.add_argument("--ready-file")
    p.add_argument("--size", type=int, default=1000)
    sub.add_parser("u2f")
    p = sub.add_parser("ping-max")
    p.add_argument("--path", required=True)
    p.add_argument("--count", type=int, default=3)
    p.add_argument("--size", type=int, default=7609)
    p = sub.add_parser("large-blob")
    p.add_argument("--path", required=True)
    p.add_argument("--pin", required=True)
    p.add_argument("--size", type=int, default=5000)
    p = sub.add_parser("cancel")
    p.add_argument("--path", required=True)
    p.add_argument("--after", type=float, default=1.5)
    args = parser.parse_args()
    return {
        "info": cmd_info,
        "register-login": cmd_register_login,
        "ping-loop": cmd_ping_loop,
        "u2f": cmd_u2f,
        "ping-max": cmd_ping_max,
        "large-blob": cmd_large_blob,
        "cancel": cmd_cancel,
    }[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
