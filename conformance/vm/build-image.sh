#!/usr/bin/env bash
# Build (once) the Debian bookworm guest image used by run-guest.sh and suite.sh.
#
# The image lives outside the repository, in ${SOFTKEY_VM_CACHE:-$HOME/.cache/softkey-vm}/image-KEY,
# where KEY is a hash of the recipe (this script, guest-init.sh). A cached image is reused as is;
# a changed recipe builds a new one. The last line on stdout is the image directory, which holds
#   vmlinux      the uncompressed kernel (PVH entry: boots ~6 s faster under TCG than vmlinuz)
#   initrd.img   an initramfs with MODULES=list (virtio_pci, virtio_blk, ext4)
#   rootfs.img   a sparse ext4 image of the root file system (run it with snapshot=on)
#   manifest     package versions and build facts
#
# Needs root (debootstrap, chroot). Installs the host tools it needs from Debian's registry.
# Environment: SOFTKEY_VM_CACHE (cache dir), SOFTKEY_VM_MIRROR (Debian mirror for debootstrap;
# default: debootstrap's own), SOFTKEY_VM_KEEP_CACHE=N keep only the N newest images (default 2).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${SOFTKEY_VM_CACHE:-$HOME/.cache/softkey-vm}"
SUITE=bookworm
FIDO2_VERSION=2.2.1
FIDO2_SHA256=ed397da981b9ab133da6ead7309e41f924b566b749956129efe286fae097749f
GUEST_PACKAGES=(
    linux-image-amd64 initramfs-tools kmod udev iproute2 usbip usbutils
    fido2-tools libfido2-1 openssh-client python3 python3-cryptography
    # the host's softkey links the TCG TSS for its TPM slots (loaded at start, used only then)
    libtss2-esys-3.0.2-0 libtss2-tctildr0
    # the browser case: Firefox ESR on an X display nobody looks at, driven by keystrokes
    firefox-esr xvfb xauth xdotool openbox imagemagick x11-utils fonts-liberation fonts-dejavu-core
)

say() { echo "build-image: $*" >&2; }

KEY="$(cat "$HERE/build-image.sh" "$HERE/guest-init.sh" | sha256sum | cut -c1-16)"
OUT="$CACHE/image-$KEY"
if [[ -f "$OUT/ready" ]]; then
    echo "$OUT"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    say "building the image needs root (debootstrap, chroot)"
    exit 1
fi

host_tools() {
    local missing=()
    command -v debootstrap > /dev/null || missing+=(debootstrap)
    command -v qemu-system-x86_64 > /dev/null || missing+=(qemu-system-x86)
    command -v mkfs.ext4 > /dev/null || missing+=(e2fsprogs)
    command -v xz > /dev/null || missing+=(xz-utils)
    if ((${#missing[@]})); then
        say "installing host packages: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update -q > /dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" > /dev/null
    fi
}

mkdir -p "$CACHE"
exec 9> "$CACHE/.build.lock"
flock 9 # one build at a time; a second caller waits and then finds the image ready
if [[ -f "$OUT/ready" ]]; then
    echo "$OUT"
    exit 0
fi

host_tools
start=$(date +%s)
WORK="$(mktemp -d "$CACHE/build.XXXXXX")"
ROOT="$WORK/rootfs"
cleanup() {
    for m in dev/pts dev proc sys; do
        mountpoint -q "$ROOT/$m" 2> /dev/null && umount -l "$ROOT/$m"
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# python-fido2 is pure Python: one wheel from PyPI, checked against a pinned hash. Its only
# dependency, cryptography (>=2.6,!=35,<52), is Debian's python3-cryptography (38.0.4).
say "downloading fido2==$FIDO2_VERSION"
echo "fido2==$FIDO2_VERSION --hash=sha256:$FIDO2_SHA256" > "$WORK/requirements.txt"
if ! python3 -m pip --version > /dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-pip > /dev/null
fi
python3 -m pip download -q --no-deps --require-hashes -r "$WORK/requirements.txt" -d "$WORK/wheel" >&2

say "debootstrap --variant=minbase $SUITE"
# shellcheck disable=SC2086 # an empty mirror means debootstrap's default
debootstrap --variant=minbase "$SUITE" "$ROOT" ${SOFTKEY_VM_MIRROR:-} > "$WORK/debootstrap.log" 2>&1 || {
    tail -20 "$WORK/debootstrap.log" >&2
    exit 1
}

mount -t proc proc "$ROOT/proc"
mount -t sysfs sysfs "$ROOT/sys"
mount --bind /dev "$ROOT/dev"
mount --bind /dev/pts "$ROOT/dev/pts"
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d" # start no services in the chroot
chmod +x "$ROOT/usr/sbin/policy-rc.d"
in_root() { DEBIAN_FRONTEND=noninteractive LC_ALL=C chroot "$ROOT" "$@"; }

# initramfs-tools first, configured before the kernel arrives, so the kernel's postinst
# builds the small initramfs once (MODULES=most would take minutes under TCG and 30+ MB).
say "apt-get install (in the chroot)"
in_root apt-get update -q > "$WORK/apt.log" 2>&1
in_root apt-get install -y -q --no-install-recommends initramfs-tools >> "$WORK/apt.log" 2>&1 || {
    tail -20 "$WORK/apt.log" >&2
    exit 1
}
sed -i 's/^MODULES=.*/MODULES=list/; s/^COMPRESS=.*/COMPRESS=gzip/' "$ROOT/etc/initramfs-tools/initramfs.conf"
printf 'virtio_pci\nvirtio_blk\next4\n' >> "$ROOT/etc/initramfs-tools/modules"
in_root apt-get install -y -q --no-install-recommends "${GUEST_PACKAGES[@]}" >> "$WORK/apt.log" 2>&1 || {
    tail -20 "$WORK/apt.log" >&2
    exit 1
}

say "installing python-fido2 $FIDO2_VERSION into dist-packages"
python3 - "$WORK/wheel/fido2-$FIDO2_VERSION-py3-none-any.whl" "$ROOT/usr/lib/python3/dist-packages" << 'EOF'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
EOF
in_root python3 -c 'import importlib.metadata as m, fido2.hid, fido2.client, fido2.server, cryptography
print("python-fido2", m.version("fido2"), "with cryptography", cryptography.__version__)' > "$WORK/python.txt"

install -m 0755 "$HERE/guest-init.sh" "$ROOT/sbin/softkey-init"
echo softkey-guest > "$ROOT/etc/hostname"
printf '127.0.0.1 localhost softkey-guest\n' > "$ROOT/etc/hosts"
# A non-root user for the hidraw permission checks (README: "Permissions").
in_root useradd --create-home --shell /bin/sh --groups plugdev fido
rm -f "$ROOT/usr/sbin/policy-rc.d"
in_root apt-get clean

for m in dev/pts dev proc sys; do umount -l "$ROOT/$m"; done

say "extracting the uncompressed kernel"
VMLINUZ="$(printf '%s\n' "$ROOT"/boot/vmlinuz-* | sort -V | tail -1)"
KVER="${VMLINUZ##*/vmlinuz-}"
mkdir -p "$WORK/out"
# The bzImage payload is an xz (Debian) stream: find its magic and decompress what follows.
python3 - "$VMLINUZ" "$WORK/out/vmlinux" << 'EOF'
import lzma, sys, zlib
data = open(sys.argv[1], "rb").read()
magics = [(b"\xfd7zXZ\x00", "xz"), (b"\x1f\x8b\x08", "gzip")]
for magic, kind in magics:
    pos = data.find(magic)
    while pos >= 0:
        try:
            if kind == "xz":
                out = lzma.LZMADecompressor().decompress(data[pos:])
            else:
                out = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[pos:])
        except (lzma.LZMAError, zlib.error):
            out = b""
        if out.startswith(b"\x7fELF"):
            open(sys.argv[2], "wb").write(out)
            sys.exit(0)
        pos = data.find(magic, pos + 1)
sys.exit("no ELF kernel found in " + sys.argv[1])
EOF
cp "$ROOT/boot/initrd.img-$KVER" "$WORK/out/initrd.img"

say "making the ext4 image"
mkfs.ext4 -q -L softkey-root -d "$ROOT" "$WORK/out/rootfs.img" 3072M

{
    echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) in $(($(date +%s) - start)) s"
    echo "recipe key: $KEY"
    echo "kernel: $KVER"
    cat "$WORK/python.txt"
    chroot_pkgs="$(dpkg-query --admindir="$ROOT/var/lib/dpkg" -W -f '${Package} ${Version}\n' \
        linux-image-amd64 udev usbip usbutils fido2-tools libfido2-1 openssh-client python3 python3-cryptography \
        firefox-esr xvfb xdotool 2> /dev/null || true)"
    echo "$chroot_pkgs"
} > "$WORK/out/manifest"

rm -rf "$OUT"
mv "$WORK/out" "$OUT"
touch "$OUT/ready"
say "image ready in $(($(date +%s) - start)) s: $OUT"

# Keep the cache small: only the newest images.
keep="${SOFTKEY_VM_KEEP_CACHE:-2}"
find "$CACHE" -maxdepth 1 -name 'image-*' -printf '%T@ %p\n' | sort -rn | tail -n +$((keep + 1)) |
    while read -r _ old; do
        [[ "$old" != "$OUT" ]] && rm -rf "$old"
    done
echo "$OUT"
