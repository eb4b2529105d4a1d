"""A minimal USB/IP client that gives python-fido2 a FIDO HID device.

It imports a device the way Linux ``usbip attach`` + vhci_hcd + usbhid do
(Documentation/usb/usbip_protocol.rst, version 0x0111, big-endian): OP_REQ_IMPORT,
GET_DESCRIPTOR device/configuration/strings/HID report, SET_CONFIGURATION, SET_IDLE,
and then keeps one interrupt-IN URB pending at all times. It implements python-fido2
2.x's ``CtapHidConnection`` (``read_packet``/``write_packet``/``close``), so
``open_device()`` returns a real ``fido2.hid.CtapHidDevice`` without a kernel.
"""

from __future__ import annotations

import socket
import struct
from collections import deque

from fido2.hid import CtapHidDevice
from fido2.hid.base import CtapHidConnection, HidDescriptor, parse_report_descriptor

USBIP_VERSION = 0x0111
OP_REQ_IMPORT = 0x8003
OP_REP_IMPORT = 0x0003
CMD_SUBMIT = 1
CMD_UNLINK = 2
RET_SUBMIT = 3
RET_UNLINK = 4
DIR_OUT = 0
DIR_IN = 1
URB_DIR_IN = 0x0200
NON_ISO = 0xFFFFFFFF
DEVICE_RECORD_LEN = 0x138
HEADER = struct.Struct(">IIIII")  # command, seqnum, devid, direction, ep
REPORT_LEN = 64


class UsbipError(ConnectionError):
    """The device broke the USB/IP protocol or refused a request."""


class UsbipHidConnection(CtapHidConnection):
    """A USB/IP-imported FIDO HID device as a python-fido2 ``CtapHidConnection``."""

    def __init__(self, host: str, port: int = 3240, busid: str = "1-1", timeout: float = 30.0):
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._seq = 0
        self._pending: dict[int, tuple[str, int]] = {}  # seqnum -> (kind, length)
        self._done: dict[int, tuple[int, bytes]] = {}  # seqnum -> (status, data)
        self._reports: deque[bytes] = deque()
        self._in_seq: int | None = None
        self._closed = False
        self._devid = self._import(busid)
        self.descriptor = self._enumerate(f"usbip://{host}:{port}/{busid}")
        self._submit_in()

    # -- OP_REQ_IMPORT --------------------------------------------------------------

    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self._sock.recv(n - len(buf))
            if not chunk:
                raise UsbipError("the device closed the USB/IP connection")
            buf += chunk
        return bytes(buf)

    def _import(self, busid: str) -> int:
        self._sock.sendall(
            struct.pack(">HHI32s", USBIP_VERSION, OP_REQ_IMPORT, 0, busid.encode())
        )
        version, code, status = struct.unpack(">HHI", self._recv_exact(8))
        if version != USBIP_VERSION or code != OP_REP_IMPORT:
            raise UsbipError(f"bad OP_REP_IMPORT header {version:#06x} {code:#06x}")
        if status != 0:
            raise UsbipError(f"OP_REQ_IMPORT refused with status {status}")
        record = self._recv_exact(DEVICE_RECORD_LEN)
        busnum, devnum = struct.unpack_from(">II", record, 0x120)
        return (busnum << 16) | devnum

    # -- URBs -----------------------------------------------------------------------

    def _submit(self, kind, direction, ep, length, setup=bytes(8), data=b"", interval=0):
        self._seq += 1
        seq = self._seq
        flags = URB_DIR_IN if direction == DIR_IN else 0
        header = HEADER.pack(CMD_SUBMIT, seq, self._devid, direction, ep)
        header += struct.pack(">IIIII", flags, length, 0, NON_ISO, interval) + setup
        self._pending[seq] = (kind, length)
        self._sock.sendall(header + data)
        return seq

    def _submit_in(self) -> None:
        if self._in_seq is None:
            self._in_seq = self._submit("in", DIR_IN, self._ep_in, REPORT_LEN, interval=self._interval)

    def _handle_one(self) -> None:
        """Reads one reply and files it; anything a host would reject raises."""
        command, seq, _devid, _direction, _ep = HEADER.unpack(self._recv_exact(20))
        status, actual = struct.unpack(">iI", self._recv_exact(8))
        self._recv_exact(20)  # start_frame, number_of_packets, error_count, padding
        if command == RET_UNLINK:
            if self._pending.pop(seq, (None,))[0] != "unlink":
                raise UsbipError(f"RET_UNLINK for unknown seqnum {seq}")
            self._done[seq] = (status, b"")
            return
        if command != RET_SUBMIT or seq not in self._pending:
            raise UsbipError(f"unexpected reply command {command} seqnum {seq}")
        kind, length = self._pending.pop(seq)
        if actual > length:
            raise UsbipError(f"RET_SUBMIT {seq}: {actual} bytes for a {length}-byte buffer")
        data = self._recv_exact(actual) if kind in ("in", "ctrl_in") else b""
        if kind == "in":
            self._in_seq = None
            if status != 0 or len(data) != REPORT_LEN:
                raise UsbipError(f"IN URB completed with status {status}, {len(data)} bytes")
            self._reports.append(data)
            if not self._closed:
                self._submit_in()  # usbhid resubmits at once
        else:
            self._done[seq] = (status, data)

    def _wait(self, seq: int) -> tuple[int, bytes]:
        while seq not in self._done:
            self._handle_one()
        return self._done.pop(seq)

    def control(self, setup: bytes, length: int, data: bytes = b"") -> tuple[int, bytes]:
        """A control transfer on endpoint 0; returns (URB status, data stage)."""
        direction = DIR_IN if setup[0] & 0x80 else DIR_OUT
        kind = "ctrl_in" if direction == DIR_IN else "ctrl_out"
        return self._wait(self._submit(kind, direction, 0, length, setup, data))

    def _get_descriptor(self, request_type, dtype, index, windex, length) -> bytes:
        setup = struct.pack("<BBBBHH", request_type, 0x06, index, dtype, windex, length)
        status, data = self.control(setup, length)
        if status != 0:
            raise UsbipError(f"GET_DESCRIPTOR {dtype:#x}/{index} failed with status {status}")
        return data

    # -- enumeration (the order Linux 6.1 uses) -------------------------------------

    def _string(self, index: int, langid: int) -> str | None:
        if index == 0:
            return None
        d = self._get_descriptor(0x80, 0x03, index, langid, 255)
        return d[2 : d[0]].decode("utf-16-le")

    def _enumerate(self, path: str) -> HidDescriptor:
        self._get_descriptor(0x80, 0x01, 0, 0, 64)
        dev = self._get_descriptor(0x80, 0x01, 0, 0, 18)
        if len(dev) != 18:
            raise UsbipError("device descriptor is not 18 bytes")
        vid, pid = struct.unpack_from("<HH", dev, 8)
        i_product, i_serial = dev[15], dev[16]
        total = struct.unpack_from("<H", self._get_descriptor(0x80, 0x02, 0, 0, 9), 2)[0]
        config = self._get_descriptor(0x80, 0x02, 0, 0, total)
        iface, report_len, self._ep_in, self._ep_out, self._interval = _parse_config(config)
        langs = self._get_descriptor(0x80, 0x03, 0, 0, 255)
        langid = struct.unpack_from("<H", langs, 2)[0] if len(langs) >= 4 else 0x0409
        product = self._string(i_product, langid)
        serial = self._string(i_serial, langid)
        status, _ = self.control(struct.pack("<BBHHH", 0x00, 0x09, config[5], 0, 0), 0)
        if status != 0:
            raise UsbipError(f"SET_CONFIGURATION failed with status {status}")
        self.control(struct.pack("<BBHHH", 0x21, 0x0A, 0, iface, 0), 0)  # a STALL is fine
        report = self._get_descriptor(0x81, 0x22, 0, iface, report_len)
        size_in, size_out = parse_report_descriptor(report)  # raises unless FIDO
        return HidDescriptor(path, vid, pid, size_in, size_out, product, serial)

    # -- CtapHidConnection ----------------------------------------------------------

    def read_packet(self) -> bytes:
        while not self._reports:
            self._handle_one()
        return self._reports.popleft()

    def write_packet(self, data: bytes) -> None:
        packet = bytes(data).ljust(REPORT_LEN, b"\0")
        if len(packet) != REPORT_LEN:
            raise ValueError("a CTAPHID packet is 64 bytes")
        seq = self._submit("out", DIR_OUT, self._ep_out, REPORT_LEN, data=packet, interval=self._interval)
        status, _ = self._wait(seq)
        if status != 0:
            raise UsbipError(f"interrupt OUT failed with status {status}")

    def close(self) -> None:
        """Detach like Linux: unlink the pending IN URB, wait for RET_UNLINK, close."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._in_seq is not None:
                target = self._in_seq
                self._seq += 1
                seq = self._seq
                self._pending[seq] = ("unlink", 0)
                self._sock.sendall(
                    HEADER.pack(CMD_UNLINK, seq, self._devid, 0, 0) + struct.pack(">I", target) + bytes(24)
                )
                self._wait(seq)
        except (BrokenPipeError, ConnectionResetError, UsbipError):
            pass  # The device went away first (unplugged): nothing is left to detach.
        finally:
            self._sock.close()


def _parse_config(config: bytes) -> tuple[int, int, int, int, int]:
    """(interface number, report descriptor length, IN ep, OUT ep, bInterval) of the
    first HID interface in a configuration descriptor set."""
    iface = report_len = ep_in = ep_out = None
    interval = 1
    pos = 0
    while pos + 2 <= len(config):
        length, dtype = config[pos], config[pos + 1]
        if length < 2:
            raise UsbipError(f"descriptor at {pos} has bLength {length}")
        d = config[pos : pos + length]
        if dtype == 0x04 and iface is None and d[5] == 0x03:
            iface = d[2]
        elif dtype == 0x21 and iface is not None and report_len is None:
            report_len = struct.unpack_from("<H", d, 7)[0]
        elif dtype == 0x05 and iface is not None and d[3] & 0x03 == 0x03:
            if d[2] & 0x80:
                ep_in, interval = d[2] & 0x0F, d[6]
            else:
                ep_out = d[2] & 0x0F
        pos += length
    if None in (iface, report_len, ep_in, ep_out):
        raise UsbipError("no HID interface with interrupt IN and OUT endpoints")
    return iface, report_len, ep_in, ep_out, interval  # type: ignore[return-value]


def open_device(host: str = "127.0.0.1", port: int = 3240, busid: str = "1-1") -> CtapHidDevice:
    """Imports the device and returns python-fido2's CtapHidDevice on it (INIT done)."""
    connection = UsbipHidConnection(host, port, busid)
    try:
        return CtapHidDevice(connection.descriptor, connection)
    except Exception:
        connection.close()
        raise
