"""The user-space USB/IP connection, from the softkey_lab package (clients/python), for the tests
that import it by this name."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "clients" / "python"))

from softkey_lab.usbip import UsbipError, UsbipHidConnection, open_device  # noqa: E402

__all__ = ["UsbipError", "UsbipHidConnection", "open_device"]
