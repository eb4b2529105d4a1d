#!/bin/sh
# PID 1 of the softkey test guest (installed as /sbin/softkey-init by build-image.sh).
#
# It does only what a job needs and nothing slow: mount the pseudo file systems, mount the
# job directory shared by the host over 9p at /job, start udevd without coldplug (hot-plug of
# the USB/IP device still works), bring up eth0 as 10.0.2.15/24 with no default route (the
# host's loopback is 10.0.2.2 through slirp; nothing else is reachable), run /job/run.sh
# under a deadline, write its exit code to /job/exit-code and power off.
#
# Kernel command line parameters read here: softkey.deadline=SECONDS (default 600).

PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
HOME=/root
LANG=C.UTF-8
export PATH HOME LANG

log() { echo "softkey-init: $*" > /dev/console; }

poweroff_now() {
    sync
    echo o > /proc/sysrq-trigger
    sleep 30
    exit 1 # PID 1 exiting panics the kernel; panic=-1 + qemu -no-reboot end the VM
}

mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mountpoint -q /dev/pts || mount -t devpts -o gid=5,mode=620 devpts /dev/pts
mountpoint -q /dev/shm || mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mountpoint -q /run || mount -t tmpfs -o mode=755 tmpfs /run
mountpoint -q /tmp || mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir -p /run/udev /run/lock
hostname softkey-guest

deadline=600
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        softkey.deadline=*) deadline="${arg#softkey.deadline=}" ;;
    esac
done

mkdir -p /job
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 job /job; then
    modprobe 9pnet_virtio 2> /dev/null
    modprobe 9p 2> /dev/null
    if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 job /job; then
        log "cannot mount the job share"
        poweroff_now
    fi
fi

# udevd only; no `udevadm trigger` (coldplug costs ~5 s under TCG and nothing we need is
# coldplugged: the FIDO device is hot-plugged by usbip attach).
/lib/systemd/systemd-udevd --daemon > /dev/null 2>&1

ip link set lo up
modprobe virtio_net
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
ip addr add 10.0.2.15/24 dev eth0
ip link set eth0 up

log "running /job/run.sh (deadline ${deadline}s)"
cd /job || poweroff_now
timeout -k 5 "$deadline" /bin/sh /job/run.sh > /job/output 2>&1 < /dev/null
rc=$?
[ $rc -eq 124 ] && echo "softkey-init: the job exceeded its ${deadline}s deadline" >> /job/output
echo "$rc" > /job/exit-code.tmp
mv /job/exit-code.tmp /job/exit-code
log "job exited with $rc"
cd /
umount /job 2> /dev/null
poweroff_now
