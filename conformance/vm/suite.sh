#!/usr/bin/env bash
# softkey's real-kernel suite: one Debian guest (Linux 6.1, vhci-hcd, usbhid, libfido2,
# OpenSSH, python-fido2) attaches `softkey serve` over USB/IP and runs the cases in
# guest/suite.sh against it.
#
#   conformance/vm/suite.sh [SOFTKEY_BINARY]      (default: REPO/target/debug/softkey)
#
# For each case the host starts a fresh `softkey serve --presence auto` on a free loopback
# port (case 9: a real vault made with `softkey init`; case 11: `--presence socket`, answered
# by `softkey approve` / `softkey deny` from a second process; case 13: `softkey lab serve`, its
# authenticator provisioned through the lab's HTTP API by lab_provision.py, which checks
# afterwards what the API saw), boots the guest once, and answers the
# guest's requests in JOB/signal/ (kill: SIGKILL case 9's server; restart: start it again on
# the same port with the same vault). Case 15 needs no host server: the guest runs `softkey
# uhid-relay` and `softkey serve --transport uhid` itself (the binary in JOB/bin). The guest
# prints PASS/FAIL/PENDING per case and the
# summary `N passed, M failed, K pending`; this script exits non-zero on any failure.
#
# Environment: SOFTKEY_VM_ONLY="01 09" runs only those cases; SOFTKEY_VM_KEEP=1 keeps the
# work directory; SOFTKEY_VM_DEADLINE (guest seconds, default 900); SOFTKEY_VM_CACHE and
# SOFTKEY_VM_ACCEL as in build-image.sh and run-guest.sh.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
BIN="${1:-$REPO/target/debug/softkey}"
DEADLINE="${SOFTKEY_VM_DEADLINE:-900}"
CASES=(01 02 03 04 05 06 07 08 09 10 11 12 13 14)

say() { echo "suite: $*"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
secs() { local ms=$1; printf '%d.%01d s' $((ms / 1000)) $(((ms % 1000) / 100)); }

if [[ ! -x "$BIN" ]]; then
    say "no softkey binary at $BIN (build it: cargo build --bins)"
    exit 2
fi
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"

t_start=$(now_ms)
IMAGE="$("$HERE/build-image.sh" | tail -1)"
t_image=$(($(now_ms) - t_start))
say "image $IMAGE ($(secs $t_image))"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/softkey-vm-suite.XXXXXX")"
JOB="$WORK/job"   # shared with the guest over 9p
HOSTDIR="$WORK/host" # vault, passphrase, server logs: never visible to the guest
mkdir -p "$JOB/signal" "$HOSTDIR"
cp -r "$HERE/guest" "$JOB/guest"
# Case 14 runs this binary's `softkey conformance` in the guest (same glibc: Debian 12).
mkdir -p "$JOB/bin"
cp "$BIN" "$JOB/bin/softkey"
printf '#!/bin/sh\nexec bash /job/guest/suite.sh\n' > "$JOB/run.sh"

declare -A PID PORT
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
    local n
    for n in "${!PID[@]}"; do
        kill "${PID[$n]}" 2> /dev/null || true
    done
    wait 2> /dev/null || true
    if [[ "${SOFTKEY_VM_KEEP:-0}" == 1 || "${suite_failed:-1}" == 1 ]]; then
        say "work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

# start_server NN LISTEN [serve args...]: start `softkey serve` and wait for its first line
# (`softkey: serving on 127.0.0.1:PORT ...`). Sets PID[NN] and PORT[NN].
start_server() {
    local n="$1" listen="$2" line=""
    shift 2
    "$BIN" serve --listen "$listen" "$@" \
        > "$HOSTDIR/server-$n.out" 2>> "$HOSTDIR/server-$n.err" < /dev/null &
    PID[$n]=$!
    for _ in $(seq 100); do
        line="$(head -1 "$HOSTDIR/server-$n.out" 2> /dev/null)"
        [[ "$line" == "softkey: serving on "* ]] && break
        kill -0 "${PID[$n]}" 2> /dev/null || break
        sleep 0.1
    done
    if [[ ! "$line" =~ ^softkey:\ serving\ on\ 127\.0\.0\.1:([0-9]+) ]]; then
        say "server $n did not start: $(tail -3 "$HOSTDIR/server-$n.err" 2> /dev/null)"
        return 1
    fi
    PORT[$n]="${BASH_REMATCH[1]}"
}

# start_lab NN: `softkey lab serve` (USB/IP and API on free loopback ports, the token file in
# the host-only directory); its first line is `softkey lab: USB/IP on 127.0.0.1:PORT, API on
# URL`. Sets PID[NN], PORT[NN] and LAB_API.
start_lab() {
    local n="$1" line=""
    mkdir -p -m 700 "$HOSTDIR/lab"
    "$BIN" lab serve --listen 127.0.0.1:0 --api 127.0.0.1:0 --token-file "$HOSTDIR/lab/token" \
        > "$HOSTDIR/server-$n.out" 2>> "$HOSTDIR/server-$n.err" < /dev/null &
    PID[$n]=$!
    for _ in $(seq 100); do
        line="$(head -1 "$HOSTDIR/server-$n.out" 2> /dev/null)"
        [[ "$line" == "softkey lab: "* ]] && break
        kill -0 "${PID[$n]}" 2> /dev/null || break
        sleep 0.1
    done
    if [[ ! "$line" =~ ^softkey\ lab:\ USB/IP\ on\ 127\.0\.0\.1:([0-9]+),\ API\ on\ (http://[^ ]+) ]]; then
        say "lab $n did not start: $(tail -3 "$HOSTDIR/server-$n.err" 2> /dev/null)"
        return 1
    fi
    PORT[$n]="${BASH_REMATCH[1]}"
    LAB_API="${BASH_REMATCH[2]}"
}

# Case 9's server keeps its credentials in a real vault, so they outlive a SIGKILL.
echo "softkey vm suite passphrase" > "$HOSTDIR/passphrase"
chmod 600 "$HOSTDIR/passphrase"
"$BIN" init --vault "$HOSTDIR/vault.softkey" --passphrase-file "$HOSTDIR/passphrase" \
    --kdf-memory-mib 8 --kdf-iterations 1 > "$HOSTDIR/init.log" 2>&1 || {
    say "softkey init failed: $(tail -3 "$HOSTDIR/init.log")"
    exit 1
}
VAULT_ARGS=(--vault "$HOSTDIR/vault.softkey" --passphrase-file "$HOSTDIR/passphrase")

# Case 11's server waits for a second process to answer each prompt (`--presence socket`).
CTL_11="$HOSTDIR/control-11.sock"
for n in "${CASES[@]}"; do
    case "$n" in
        09) start_server "$n" 127.0.0.1:0 --presence auto "${VAULT_ARGS[@]}" ;;
        11) start_server "$n" 127.0.0.1:0 --ephemeral --presence socket --control-socket "$CTL_11" ;;
        13) start_lab "$n" ;;
        *) start_server "$n" 127.0.0.1:0 --ephemeral --presence auto ;;
    esac
done

# Case 11, the person at another terminal: `softkey pending --wait` shows the request the
# guest's kernel sent, then `softkey approve` answers the first and `softkey deny` the second.
# What pending showed and what the answer said go to JOB/signal/ for the guest to check.
answer_11() {
    local verdict
    for verdict in approve deny; do
        "$BIN" pending --wait --json --control-socket "$CTL_11" \
            > "$JOB/signal/pending-11-$verdict.json" 2>&1 || return 1
        "$BIN" "$verdict" --control-socket "$CTL_11" > "$JOB/signal/answer-11.tmp" 2>&1
        mv "$JOB/signal/answer-11.tmp" "$JOB/signal/answered-11-$verdict"
    done
}
# Case 13: the lab authenticator's PIN and credential, through the API; the guest gets the
# credential's public half and the PIN in JOB/lab-credential.json.
lab_provision() {
    python3 "$HERE/lab_provision.py" "$1" "$LAB_API" "$HOSTDIR/lab/token" "$JOB/lab-credential.json"
}
if [[ -z "${SOFTKEY_VM_ONLY:-}" || " $SOFTKEY_VM_ONLY " == *" 13 "* ]]; then
    lab_provision provision 2>&1 | sed 's/^/suite: /' || say "lab provisioning failed (case 13 will fail)"
fi
if [[ " ${CASES[*]} " == *" 11 "* ]]; then
    answer_11 &
    PID[answer_11]=$!
fi
{
    for n in "${CASES[@]}"; do echo "PORT_$n=${PORT[$n]}"; done
    echo "ONLY=\"${SOFTKEY_VM_ONLY:-}\""
} > "$JOB/suite.env"
say "servers: $(for n in "${CASES[@]}"; do printf '%s=127.0.0.1:%s ' "$n" "${PORT[$n]}"; done)"

# Boot the guest once; meanwhile answer its signals for case 9.
t_vm=$(now_ms)
# 2 GiB: Firefox (case 12) needs more than the 1 GiB the other cases do.
"$HERE/run-guest.sh" --deadline "$DEADLINE" --memory 2048 "$JOB" | tee "$WORK/guest.log" &
vm=$!
while kill -0 "$vm" 2> /dev/null; do
    if [[ -e "$JOB/signal/kill" && ! -e "$JOB/signal/killed" ]]; then
        kill -KILL "${PID[09]}"
        wait "${PID[09]}" 2> /dev/null || true
        echo "softkey serve (pid ${PID[09]}) killed with SIGKILL at $(date +%T.%N | cut -c1-12)" > "$JOB/signal/killed"
    fi
    if [[ -e "$JOB/signal/restart" && ! -e "$JOB/signal/restarted" ]]; then
        msg=""
        for _ in 1 2 3 4 5; do
            if start_server 09 "127.0.0.1:${PORT[09]}" --presence auto "${VAULT_ARGS[@]}"; then
                msg="softkey serve restarted (pid ${PID[09]}) on port ${PORT[09]} with the same vault"
                break
            fi
            sleep 1
        done
        echo "${msg:-restart failed: $(tail -2 "$HOSTDIR/server-09.err")}" > "$JOB/signal/restarted"
    fi
    sleep 0.1
done
set +e
wait "$vm"
set -e
rc="$(cat "$JOB/exit-code" 2> /dev/null || echo none)"
t_vm=$(($(now_ms) - t_vm))

# The verdict: the guest's exit code, and every case accounted for.
summary="$(grep -E '^[0-9]+ passed, [0-9]+ failed, [0-9]+ pending$' "$WORK/guest.log" | tail -1 || true)"
verdicts="$(grep -cE '^(PASS|FAIL|PENDING) case-' "$WORK/guest.log" || true)"
counted=-1
[[ "$summary" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ pending$ ]] &&
    counted=$((BASH_REMATCH[1] + BASH_REMATCH[2] + BASH_REMATCH[3]))
suite_failed=0
# Case 14's reports, kept under target/ with the host's.
for report in "$JOB"/conformance-hidraw.*; do
    [[ -e "$report" ]] || continue
    mkdir -p "$REPO/target/conformance"
    cp "$report" "$REPO/target/conformance/"
done
# Case 13's other half: what the lab's API saw of the guest's browser session.
if grep -q '^PASS case-13-' "$WORK/guest.log" && ! lab_provision check 2>&1 | sed 's/^/suite: /'; then
    suite_failed=1
    say "FAILED: case 13 passed in the guest, but the lab's API did not see it"
fi
# The banner names what ran: every version present (an empty one once hid a broken probe).
banner="$(grep -m1 '^guest: ' "$WORK/guest.log" || true)"
if ! [[ "$banner" =~ ^guest:\ [0-9][^,]*,\ libfido2\ [0-9][^,]*,\ OpenSSH_[0-9][^,]*,.*python-fido2\ [0-9] ]]; then
    suite_failed=1
    say "FAILED: the guest banner lacks a version: ${banner:-none}"
fi
if [[ "$rc" != 0 || "$verdicts" -eq 0 || "$verdicts" -ne "$counted" ]]; then
    suite_failed=1
    say "FAILED: guest exit code $rc, $verdicts case verdicts, summary: ${summary:-none}"
    # Screenshots and logs of a failed browser case, where the developer looks: target/.
    if [[ -n "$(ls -A "$JOB/screens" 2> /dev/null)" ]]; then
        rm -rf "$REPO/target/vm-screens"
        mkdir -p "$REPO/target"
        cp -r "$JOB/screens" "$REPO/target/vm-screens"
        say "screenshots of the failed browser case: $REPO/target/vm-screens"
    fi
    for n in "${CASES[@]}"; do
        if [[ -s "$HOSTDIR/server-$n.err" ]]; then
            say "server $n stderr (last lines):"
            tail -5 "$HOSTDIR/server-$n.err" | sed 's/^/    /'
        fi
    done
fi
say "timings: image $(secs $t_image), VM (boot + cases) $(secs $t_vm), total $(secs $(($(now_ms) - t_start)))"
exit $suite_failed
