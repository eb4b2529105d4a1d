"""The ``softkey_lab`` pytest fixture: a fresh ``softkey lab serve`` per test, stopped after it.

The binary is ``$SOFTKEY_BIN``, else ``softkey`` on the PATH. Installed with the package, pytest
finds the fixture by itself (the ``pytest11`` entry point).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from . import LabServer


@pytest.fixture
def softkey_lab():
    with tempfile.TemporaryDirectory(prefix="softkey-lab-") as workdir:
        Path(workdir).chmod(0o700)
        server = LabServer(Path(workdir))
        try:
            yield server
        finally:
            server.stop()
