//! CTAPHID framing (CTAP 2.1 §11.2): channels, PING, the error answers to
//! malformed traffic, WINK, LOCK and CANCEL. The first twelve are the
//! crate's long-standing CTAPHID checks, run here on any transport.

use std::time::Duration;

use crate::Error;
use crate::catalog::{Check, Family, Session, Verdict};
use crate::checks::ctaphid_checks as old;
use crate::ctaphid::{CtapHid, INIT_DATA_LEN, capability, cmd, err, init_packet};

type Body = fn(&mut CtapHid<crate::catalog::session::Device>) -> Result<String, Error>;

fn wrap(id: &str, spec: &str, sends: &str, expects: &str, body: Body) -> Check {
    Check::in_family(
        Family::HidTransport,
        id,
        spec,
        sends,
        expects,
        move |s: &mut Session| Ok(Verdict::Pass(body(s.hid()?)?)),
    )
}

/// Sends `packet`, then expects CTAPHID_ERROR `code` on `cid`.
fn error_after(
    s: &mut Session,
    packets: &[[u8; 64]],
    cid: u32,
    code: u8,
) -> Result<Verdict, Error> {
    let hid = s.hid()?;
    for p in packets {
        hid.send_raw(p)?;
    }
    // The long-standing CTAPHID checks' own judge of an ERROR answer.
    Ok(match old::expect_error(hid, cid, code) {
        Ok(()) => Verdict::Pass(format!("ERROR 0x{code:02X}")),
        Err(e) => Verdict::Fail(e.to_string()),
    })
}

fn ping_of(len: usize) -> Check {
    Check::new(
        format!("hid.ping-{len}"),
        Family::HidTransport,
        "CTAP 2.1 §11.2.9.1.2 (PING echoes its data), §11.2.4 (57 bytes in an initialization packet, 59 in each continuation)",
        format!("a {len}-byte PING"),
        "the same bytes back",
        move |s| {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let echo = s.hid()?.ping(&data)?;
            Ok(if echo == data {
                Verdict::Pass(format!("{len} bytes echoed"))
            } else {
                Verdict::Fail(format!("{} bytes came back, differing", echo.len()))
            })
        },
    )
}

pub fn checks() -> Vec<Check> {
    let s11_2_9_1_3 = "CTAP 2.1 §11.2.9.1.3 (CTAPHID_INIT)";
    let s11_2_4 = "CTAP 2.1 §11.2.4 (message and packet structure), §11.2.9.1.6 (CTAPHID_ERROR)";
    let mut checks = vec![
        wrap(
            "init",
            s11_2_9_1_3,
            "broadcast INIT twice",
            "two distinct CIDs, protocol version 2, the CBOR capability",
            old::init_on,
        ),
        wrap(
            "ping-1000",
            "CTAP 2.1 §11.2.9.1.2",
            "PINGs of 1000, 0 and 7609 bytes",
            "each echoed",
            old::ping_1000_on,
        ),
        wrap(
            "cid-zero",
            s11_2_4,
            "a PING on CID 0",
            "ERROR 0x0B ERR_INVALID_CHANNEL",
            old::cid_zero_on,
        ),
        wrap(
            "broadcast-non-init",
            s11_2_4,
            "a PING on the broadcast CID",
            "ERROR 0x0B ERR_INVALID_CHANNEL",
            old::broadcast_non_init_on,
        ),
        wrap(
            "unallocated-cid",
            s11_2_4,
            "a PING on a CID INIT never gave",
            "ERROR 0x0B ERR_INVALID_CHANNEL",
            old::unallocated_cid_on,
        ),
        wrap(
            "bad-seq",
            s11_2_4,
            "a continuation with SEQ 1 where 0 is due",
            "ERROR 0x04 ERR_INVALID_SEQ",
            old::bad_seq_on,
        ),
        wrap(
            "bcnt-too-large",
            s11_2_4,
            "an initialization packet with BCNT 7610",
            "ERROR 0x03 ERR_INVALID_LEN",
            old::bcnt_too_large_on,
        ),
        wrap(
            "unknown-command",
            s11_2_4,
            "command 0x25",
            "ERROR 0x01 ERR_INVALID_CMD",
            old::unknown_command_on,
        ),
        wrap(
            "channel-busy",
            "CTAP 2.1 §11.2.9.1 (one transaction at a time)",
            "a PING on a second CID while the first's is half sent",
            "ERROR 0x06 ERR_CHANNEL_BUSY to the second; the first completes",
            old::channel_busy_on,
        ),
        wrap(
            "msg-timeout",
            s11_2_4,
            "half a PING, then nothing",
            "ERROR 0x05 ERR_MSG_TIMEOUT within 3 s",
            old::msg_timeout_on,
        ),
        wrap(
            "spurious-continuation",
            s11_2_4,
            "a continuation packet outside any message",
            "no answer; the channel still works",
            old::spurious_continuation_on,
        ),
        wrap(
            "init-resync",
            s11_2_9_1_3,
            "INIT on the channel mid-message",
            "an INIT answer with the nonce; the channel works",
            old::init_resync_on,
        ),
    ];
    checks.extend([57, 58, 116, 117].map(ping_of));
    checks.push(Check::new(
        "hid.init-nonce-length",
        Family::HidTransport,
        "CTAP 2.1 §11.2.9.1.3 (INIT carries an 8-byte nonce), §11.2.4",
        "a broadcast INIT with a 7-byte nonce",
        "ERROR 0x03 ERR_INVALID_LEN",
        |s| {
            let bcast = crate::ctaphid::BROADCAST_CID;
            error_after(
                s,
                &[init_packet(bcast, cmd::INIT, 7, &[1; 7])],
                bcast,
                err::INVALID_LEN,
            )
        },
    ));
    checks.push(Check::new(
        "hid.cbor-empty",
        Family::HidTransport,
        "CTAP 2.1 §11.2.9.1.5 (CTAPHID_CBOR carries a command byte), §11.2.4",
        "a CTAPHID_CBOR message of no bytes",
        "ERROR 0x03 ERR_INVALID_LEN",
        |s| {
            if !s.offers_cbor()? {
                return Ok(Verdict::NotApplicable("CTAPHID_INIT offers no CBOR".into()));
            }
            let cid = s.hid()?.cid();
            error_after(
                s,
                &[init_packet(cid, cmd::CBOR, 0, &[])],
                cid,
                err::INVALID_LEN,
            )
        },
    ));
    checks.push(Check::new(
        "hid.init-mid-message",
        Family::HidTransport,
        "CTAP 2.1 §11.2.4 (a new initialization packet on the channel ends the message being sent)",
        "half a PING, then another PING's initialization packet on the same CID",
        "ERROR 0x04 ERR_INVALID_SEQ, or the second PING answered",
        |s| {
            let hid = s.hid()?;
            let cid = hid.cid();
            hid.send_raw(&init_packet(cid, cmd::PING, 100, &[1; INIT_DATA_LEN]))?;
            hid.send_raw(&init_packet(cid, cmd::PING, 3, b"two"))?;
            Ok(match hid.recv_message(cid, cmd::PING) {
                Err(Error::HidError(err::INVALID_SEQ)) => Verdict::Pass("ERROR 0x04".into()),
                Ok(r) if r == b"two" => Verdict::Pass("the second PING answered".into()),
                Ok(r) => Verdict::Fail(format!("answered {} bytes", r.len())),
                Err(e) => Verdict::Fail(e.to_string()),
            })
        },
    ));
    checks.push(Check::new(
        "hid.cancel-nothing-pending",
        Family::HidTransport,
        "CTAP 2.1 §11.2.9.1.5 (CTAPHID_CANCEL has no response)",
        "CTAPHID_CANCEL with no request running",
        "no answer; the channel still works",
        |s| {
            let hid = s.hid()?;
            let cid = hid.cid();
            hid.send_raw(&init_packet(cid, cmd::CANCEL, 0, &[]))?;
            if let Some(p) = hid.recv_raw(Duration::from_millis(200))? {
                return Ok(Verdict::Fail(format!("answered: {:02x?}", p.get(..8))));
            }
            Ok(if hid.ping(b"ok")? == b"ok" {
                Verdict::Pass("no answer; PING works".into())
            } else {
                Verdict::Fail("PING after CANCEL echoed other bytes".into())
            })
        },
    ));
    checks.push(Check::new(
        "hid.wink",
        Family::HidTransport,
        "CTAP 2.1 §11.2.9.2.1 (CTAPHID_WINK, if the WINK capability is set)",
        "CTAPHID_WINK",
        "an empty WINK answer",
        |s| {
            let hid = s.hid()?;
            if hid.capabilities() & capability::WINK == 0 {
                return Ok(Verdict::NotApplicable(
                    "INIT's capabilities lack WINK".into(),
                ));
            }
            hid.wink()?;
            Ok(Verdict::Pass("answered".into()))
        },
    ));
    checks.push(Check::new(
        "hid.lock-unoffered",
        Family::HidTransport,
        "CTAP 2.1 §11.2.9.2.2 (CTAPHID_LOCK is optional), §11.2.4",
        "CTAPHID_LOCK for 1 s",
        "ERROR 0x01 ERR_INVALID_CMD, or an empty LOCK answer",
        |s| {
            let hid = s.hid()?;
            let cid = hid.cid();
            hid.send_raw(&init_packet(cid, cmd::LOCK, 1, &[1]))?;
            let verdict = match hid.recv_message(cid, cmd::LOCK) {
                Err(Error::HidError(err::INVALID_CMD)) => {
                    Verdict::Pass("ERROR 0x01: not offered".into())
                }
                Ok(r) if r.is_empty() => {
                    // Release the lock before the next check.
                    hid.send_raw(&init_packet(cid, cmd::LOCK, 1, &[0]))?;
                    let _ = hid.recv_message(cid, cmd::LOCK);
                    Verdict::Pass("locked and released".into())
                }
                Ok(r) => Verdict::Fail(format!("answered {} bytes", r.len())),
                Err(e) => Verdict::Fail(e.to_string()),
            };
            Ok(verdict)
        },
    ));
    checks.push(Check::new(
        "hid.msg-or-nmsg",
        Family::HidTransport,
        "CTAP 2.1 §11.2.9.1.1 (CTAPHID_MSG, unless the NMSG capability says it is not implemented)",
        "a U2F VERSION request in CTAPHID_MSG",
        "\"U2F_V2\" and 90 00, or ERR_INVALID_CMD when NMSG is set",
        |s| {
            let hid = s.hid()?;
            let nmsg = hid.capabilities() & capability::NMSG != 0;
            match (hid.msg(&[0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00]), nmsg) {
                (Ok(r), false) if r == b"U2F_V2\x90\x00" => Ok(Verdict::Pass("U2F_V2".into())),
                (Ok(r), false) => Ok(Verdict::Fail(format!("answered {r:02x?}"))),
                (Err(Error::HidError(err::INVALID_CMD)), true) => {
                    Ok(Verdict::Pass("NMSG: ERROR 0x01".into()))
                }
                (Ok(_), true) => Ok(Verdict::Fail("NMSG set, yet MSG answered".into())),
                (Err(e), _) => Ok(Verdict::Fail(e.to_string())),
            }
        },
    ));
    checks
}
