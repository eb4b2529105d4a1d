"""Fetches python-fido2's device suite: the hash-pinned sdist named in suite.txt, from PyPI.

    python fetch_suite.py CACHE_DIR

Downloads the sdist with pip (--require-hashes, so a changed file is refused), unpacks its
`tests/` directory and `pyproject.toml` into CACHE_DIR/fido2-VERSION, and prints that directory.
A directory already unpacked for the same suite.txt is reused without touching the network.
The installed fido2 must be the same version: the suite tests that library's client code.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PINS = HERE / "suite.txt"


def pinned_version() -> str:
    for line in PINS.read_text().splitlines():
        if line.startswith("fido2=="):
            return line.split()[0].removeprefix("fido2==")
    raise SystemExit(f"{PINS}: no fido2== line")


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    cache = Path(sys.argv[1])
    version = pinned_version()
    installed = importlib.metadata.version("fido2")
    if installed != version:
        raise SystemExit(f"fido2 {installed} is installed but suite.txt pins {version}")
    dest = cache / f"fido2-{version}"
    stamp = dest / "suite.txt"
    pins = PINS.read_bytes()
    if stamp.exists() and stamp.read_bytes() == pins and (dest / "tests" / "device").is_dir():
        print(dest)
        return
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--no-binary", "fido2", "--require-hashes", "-r", str(PINS),
             "-d", tmp],
            check=True, stdout=sys.stderr,
        )
        sdist = Path(tmp) / f"fido2-{version}.tar.gz"
        print(f"fetched {sdist.name}, sha256 {hashlib.sha256(sdist.read_bytes()).hexdigest()}",
              file=sys.stderr)
        unpacked = Path(tmp) / "unpacked"
        prefix = f"fido2-{version}/"
        with tarfile.open(sdist) as tar:
            members = [m for m in tar.getmembers()
                       if m.name.startswith(prefix + "tests/") or m.name == prefix + "pyproject.toml"]
            try:
                tar.extractall(unpacked, members=members, filter="data")
            except TypeError:  # Python before 3.11.4: no filters; the file is hash-pinned
                tar.extractall(unpacked, members=members)
        shutil.rmtree(dest, ignore_errors=True)
        (unpacked / prefix).rename(dest)
    stamp.write_bytes(pins)
    print(dest)


if __name__ == "__main__":
    main()
