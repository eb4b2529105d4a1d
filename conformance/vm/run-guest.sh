#!/usr/bin/env bash
# Boot the softkey test guest once and run a job in it.
#
#   run-guest.sh [--deadline SECONDS] [--memory MIB] [--cpus N] JOBDIR
#
# JOBDIR must hold run.sh. It is shared with the guest over 9p at /job; the guest's init runs
# `sh /job/run.sh` as root under the deadline with stdout+stderr in JOBDIR/output (streamed here
# live), writes JOBDIR/exit-code and powers off. This script exits with the job's exit code,
# or 125 if the VM ended without one (the last lines of JOBDIR/console.log are printed then).
#
# The host's loopback is 10.0.2.2 in the guest (slirp): a `softkey serve --listen
# 127.0.0.1:PORT` on the host is `usbip --tcp-port PORT attach -r 10.0.2.2 -b 1-1` there.
# The guest has no default route: it reaches nothing but the host.
#
# Acceleration: KVM only where the CPU offers vmx/svm and /dev/kvm is usable; otherwise TCG
# (this includes PVM-style /dev/kvm, kvm_pvm, which cannot boot a stock kernel).
# SOFTKEY_VM_ACCEL=tcg|kvm forces one. The disk is opened with snapshot=on: the cached
# image is never written, and several guests can run at once.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
deadline=600
memory=1024
cpus=2
while (($#)); do
    case "$1" in
        --deadline) deadline="$2"; shift 2 ;;
        --memory) memory="$2"; shift 2 ;;
        --cpus) cpus="$2"; shift 2 ;;
        -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
        -*) echo "run-guest: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
if [[ $# -ne 1 || ! -f "$1/run.sh" ]]; then
    echo "usage: run-guest.sh [--deadline S] [--memory MIB] [--cpus N] JOBDIR (with JOBDIR/run.sh)" >&2
    exit 2
fi
JOB="$(cd "$1" && pwd)"

IMAGE="$("$HERE/build-image.sh" | tail -1)"

# Choose the accelerator.
accel="${SOFTKEY_VM_ACCEL:-auto}"
if [[ "$accel" == auto ]]; then
    accel=tcg
    if grep -qwE 'vmx|svm' /proc/cpuinfo && [[ -r /dev/kvm && -w /dev/kvm ]]; then
        accel=kvm
    elif [[ -e /dev/kvm ]]; then
        why="no vmx/svm CPU flag"
        [[ -d /sys/module/kvm_pvm ]] && why="PVM hypervisor (kvm_pvm), no vmx/svm CPU flag"
        echo "run-guest: /dev/kvm is present but cannot boot a stock kernel ($why): using TCG" >&2
    fi
fi
if [[ "$accel" == kvm ]]; then
    machine=(-machine "q35,accel=kvm" -cpu host)
else
    machine=(-machine "q35,accel=tcg" -cpu max)
fi

rm -f "$JOB/exit-code" "$JOB/console.log"
: > "$JOB/output"

cmdline="root=/dev/vda rw rootfstype=ext4 init=/sbin/softkey-init console=ttyS0 quiet loglevel=4"
cmdline+=" mitigations=off panic=-1 net.ifnames=0 tsc=reliable softkey.deadline=$deadline"

echo "run-guest: booting ($accel, ${cpus} CPU, ${memory} MiB), deadline ${deadline}s" >&2
start=$(date +%s%N)
set +e
timeout -k 10 $((deadline + 120)) qemu-system-x86_64 \
    "${machine[@]}" -smp "$cpus" -m "$memory" \
    -nodefaults -no-user-config -display none -vga none -no-reboot \
    -kernel "$IMAGE/vmlinux" -initrd "$IMAGE/initrd.img" -append "$cmdline" \
    -drive "file=$IMAGE/rootfs.img,if=virtio,format=raw,snapshot=on" \
    -virtfs "local,path=$JOB,mount_tag=job,security_model=none,id=job" \
    -netdev user,id=net0 -device virtio-net-pci,netdev=net0 \
    -serial "file:$JOB/console.log" -monitor none \
    < /dev/null &
qemu=$!
tail -n +1 -f --pid="$qemu" "$JOB/output" 2> /dev/null
wait "$qemu"
qemu_rc=$?
set -e
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
elapsed="$((elapsed_ms / 1000)).$(printf %03d $((elapsed_ms % 1000)))"

if [[ ! -f "$JOB/exit-code" ]]; then
    echo "run-guest: the VM ended (qemu exit $qemu_rc) without the job's exit code; console:" >&2
    tail -40 "$JOB/console.log" >&2 || true
    exit 125
fi
rc="$(cat "$JOB/exit-code")"
echo "run-guest: job exit code $rc, VM ran ${elapsed}s" >&2
exit "$rc"
