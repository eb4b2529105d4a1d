//! CTAPHID checks (CTAP 2.1 §11.2): channel allocation, PING round trips, and the error
//! answers for malformed traffic listed in transport/README.md "CTAPHID rules".

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{CheckReport, ensure, fail, open_hid, random, run};
use crate::Error;
use crate::ctaphid::{
    BROADCAST_CID, CtapHid, HidDevice, INIT_DATA_LEN, InitResponse, MAX_MESSAGE_LEN, capability,
    cmd, cont_packet, err, init_packet,
};

/// Waits for the reply on `cid` and requires it to be CTAPHID_ERROR `code`.
pub(crate) fn expect_error<D: HidDevice>(
    hid: &mut CtapHid<D>,
    cid: u32,
    code: u8,
) -> Result<(), Error> {
    // The reassembler turns an ERROR packet into Error::HidError whatever the command.
    match hid.recv_message(cid, cmd::PING) {
        Err(Error::HidError(c)) if c == code => Ok(()),
        Err(Error::HidError(c)) => fail(format!(
            "ERROR 0x{c:02x} on {cid:08x}, expected 0x{code:02x}"
        )),
        Ok(r) => fail(format!(
            "answered ({} bytes) instead of ERROR 0x{code:02x}",
            r.len()
        )),
        Err(e) => fail(format!("expected ERROR 0x{code:02x} on {cid:08x}: {e}")),
    }
}

/// The channel still works after the error: a short PING round trip.
fn ping_ok<D: HidDevice>(hid: &mut CtapHid<D>) -> Result<(), Error> {
    let echo = hid.ping(b"after")?;
    ensure(echo == b"after", || format!("PING echoed {echo:02x?}"))
}

/// Sends the init packet of a 100-byte PING (a message that needs one continuation).
fn start_long_ping<D: HidDevice>(hid: &mut CtapHid<D>, cid: u32) -> Result<[u8; 100], Error> {
    let data: [u8; 100] = random()?;
    hid.send_raw(&init_packet(
        cid,
        cmd::PING,
        100,
        data.get(..INIT_DATA_LEN).unwrap_or_default(),
    ))?;
    Ok(data)
}

/// Broadcast INIT allocates a unique channel; protocol version 2; CBOR capability.
pub fn init(addr: SocketAddr) -> CheckReport {
    run("ctaphid_init", || init_on(&mut open_hid(addr)?))
}

/// The body of [`init`] on an open channel (any transport).
pub fn init_on<D: HidDevice>(hid: &mut CtapHid<D>) -> Result<String, Error> {
    let r = *hid.init_response();
    ensure(r.protocol_version == 2, || {
        format!("protocol version {}", r.protocol_version)
    })?;
    ensure(r.capabilities & capability::CBOR != 0, || {
        "CBOR capability not set".into()
    })?;
    let second = hid.allocate_channel()?;
    ensure(second != r.cid, || {
        format!("INIT allocated CID {second:08x} twice")
    })?;
    ping_ok(hid)?;
    Ok(format!(
        "CID {:08x}, then {second:08x}; version {}.{}.{}; capabilities {:#04x}",
        r.cid, r.major, r.minor, r.build, r.capabilities
    ))
}

/// PING echoes 1000 bytes, 0 bytes and the largest message (7609 bytes).
pub fn ping_1000(addr: SocketAddr) -> CheckReport {
    run("ctaphid_ping_1000", || ping_1000_on(&mut open_hid(addr)?))
}

/// The body of [`ping_1000`] on an open channel (any transport).
pub fn ping_1000_on<D: HidDevice>(hid: &mut CtapHid<D>) -> Result<String, Error> {
    let data: [u8; 1000] = random()?;
    let t = Instant::now();
    let echo = hid.ping(&data)?;
    let took = t.elapsed();
    ensure(echo == data, || "1000-byte PING echo differs".into())?;
    ensure(hid.ping(&[])?.is_empty(), || {
        "empty PING echo not empty".into()
    })?;
    let max: Vec<u8> = (0..MAX_MESSAGE_LEN).map(|i| (i % 253) as u8).collect();
    ensure(hid.ping(&max)? == max, || {
        "7609-byte PING echo differs".into()
    })?;
    Ok(format!(
        "1000-byte PING in {} µs; 0 and 7609 bytes echoed",
        took.as_micros()
    ))
}

/// A packet on CID 0 is answered ERR_INVALID_CHANNEL.
pub fn cid_zero(addr: SocketAddr) -> CheckReport {
    run("ctaphid_cid_zero", || cid_zero_on(&mut open_hid(addr)?))
}

/// The body of [`cid_zero`] on an open channel (any transport).
pub fn cid_zero_on<D: HidDevice>(hid: &mut CtapHid<D>) -> Result<String, Error> {
    hid.send_raw(&init_packet(0, cmd::PING, 1, &[0x42]))?;
    expect_error(hid, 0, err::INVALID_CHANNEL)?;
    ping_ok(hid)?;
    Ok("ERROR 0x0B on CID 0".into())
}

/// A non-INIT command on the broadcast CID is answered ERR_INVALID_CHANNEL.
pub fn broadcast_non_init(addr: SocketAddr) -> CheckReport {
    run("ctaphid_broadcast_non_init", || {
        broadcast_non_init_on(&mut open_hid(addr)?)
    })
}

/// The body of [`broadcast_non_init`] on an open channel (any transport).
pub fn broadcast_non_init_on<D: HidDevice>(hid: &mut CtapHid<D>) -> Result<String, Error> {
    hid.send_raw(&init_packet(BROADCAST_CID, cmd::PING, 1, &[0x42]))?;
    expect_error(hid, BROADCAST_CID, err::INVALID_CHANNEL)?;
    ping_ok(hid)?;
    Ok("ERROR 0x0B on the broadcast CID".into())
}

/// A channel that was never allocated is answered ERR_INVALID_CHANNEL.
pub fn unallocated_cid(addr: SocketAddr) -> CheckReport {
    run("ctaphid_unallocated_cid", || {
        unallocated_cid_on(&mut open_hid(addr)?)
    })
}

/// The body of [`unallocated_cid`] on an open channel (any transport).
pub fn unallocated_cid_on<D: HidDevice>(hid: &mut CtapHid<D>) -> Result<String, Error> {
    let cid = hid.cid() ^ 0x5A5A_A5A5;
    hid.send_raw(&init_packet(cid, cmd::PING, 1, &[0x42]))?;
    expect_error(hid, cid, err::INVALID_CHANNEL)?;
    ping_ok(hid)?;
    Ok(format!("ERROR 0x0B on unallocated CID {cid:08x}"))
}

/// A continuation with the wrong SEQ aborts the message with ERR_INVALID_SEQ.
pub fn bad_seq(addr: SocketAddr) -> CheckReport {
    run("ctaphid_bad_seq", || bad_seq_on(&mut open_hid(addr)?))
}

/// The body of [`bad_seq`] on an open channel (any transport).
pub fn bad_seq_on<D: HidDevice>(hid: &mut CtapHid<D>) -> Result<String, Error> {
    let cid = hid.cid();
    let data = start_long_ping(hid, cid)?;
    hid.send_raw(&cont_packet(
        cid,
        1,
        data.get(INIT_DATA_LEN..).unwrap_or_default(),
    ))?;
    expect_error(hid, cid, err::INVALID_SEQ)?;
    ping_ok(hid)?;
    Ok("ERROR 0x04 for SEQ 1 instead of 0".into())
}

/// BCNT above 7609 is answered ERR_INVALID_LEN.
pub fn bcnt_too_large(addr: SocketAddr) -> CheckReport {
    run("ctaphid_bcnt_too_large", || {
        bcnt_too_large_on(&mut open_hid(addr)?)
    })
}

/// The body of [`bcnt_too_large`] on an open channel (any transport).
pub fn bcnt_too_large_on<D: HidDevice>(hid: &mut CtapHid<D>) -> Result<String, Error> {
    let cid = hid.cid();
    let too_long = u16::try_from(MAX_MESSAGE_LEN + 1).unwrap_or(u16::MAX);
    hid.send_raw(&init_packet(cid, cmd::PING, too_long, &[0; INIT_DATA_LEN]))?;
    expect_error(hid, cid, err::INVALID_LEN)?;
    ping_ok(hid)?;
    Ok("ERROR 0x03 for BCNT 7610".into())
}

/// An unassigned command is answered ERR_INVALID_CMD.
pub fn unknown_command(addr: SocketAddr) -> CheckReport {
    run("ctaphid_unknown_command", || {
        unknown_command_on(&mut open_hid(addr)?)
    })
}

/// The body of [`unknown_command`] on an open channel (any transport).
pub fn unknown_command_on<D: HidDevice>(hid: &mut CtapHid<D>) -> Result<String, Error> {
    let cid = hid.cid();
    hid.send_raw(&init_packet(cid, 0x25, 0, &[]))?;
    expect_error(hid, cid, err::INVALID_CMD)?;
    ping_ok(hid)?;
    Ok("ERROR 0x01 for command 0x25".into())
}

/// While one channel assembles a message, another channel's request gets
/// ERR_CHANNEL_BUSY and the first message completes normally.
pub fn channel_busy(addr: SocketAddr) -> CheckReport {
    run("ctaphid_channel_busy", || {
        channel_busy_on(&mut open_hid(addr)?)
    })
}

/// The body of [`channel_busy`] on an open channel (any transport).
pub fn channel_busy_on<D: HidDevice>(hid: &mut CtapHid<D>) -> Result<String, Error> {
    let a = hid.cid();
    let b = hid.allocate_channel()?;
    let data = start_long_ping(hid, a)?;
    hid.send_raw(&init_packet(b, cmd::PING, 4, b"busy"))?;
    expect_error(hid, b, err::CHANNEL_BUSY)?;
    hid.send_raw(&cont_packet(
        a,
        0,
        data.get(INIT_DATA_LEN..).unwrap_or_default(),
    ))?;
    let echo = hid.recv_message(a, cmd::PING)?;
    ensure(echo == data, || {
        "the interrupted PING did not complete intact".into()
    })?;
    Ok(format!("ERROR 0x06 to {b:08x}; PING on {a:08x} completed"))
}

/// A message whose continuation never comes is answered ERR_MSG_TIMEOUT
/// (peers use ~500 ms; accepted between 300 ms and 3 s).
pub fn msg_timeout(addr: SocketAddr) -> CheckReport {
    run("ctaphid_msg_timeout", || {
        msg_timeout_on(&mut open_hid(addr)?)
    })
}

/// The body of [`msg_timeout`] on an open channel (any transport).
pub fn msg_timeout_on<D: HidDevice>(hid: &mut CtapHid<D>) -> Result<String, Error> {
    hid.set_timeouts(Duration::from_millis(3500), Duration::from_secs(4));
    let cid = hid.cid();
    start_long_ping(hid, cid)?;
    let t = Instant::now();
    expect_error(hid, cid, err::MSG_TIMEOUT)?;
    let took = t.elapsed();
    ensure(
        (Duration::from_millis(300)..=Duration::from_secs(3)).contains(&took),
        || {
            format!(
                "MSG_TIMEOUT after {} ms, expected 300..3000",
                took.as_millis()
            )
        },
    )?;
    ping_ok(hid)?;
    Ok(format!("ERROR 0x05 after {} ms", took.as_millis()))
}

/// A continuation packet with no message in progress is ignored.
pub fn spurious_continuation(addr: SocketAddr) -> CheckReport {
    run("ctaphid_spurious_continuation", || {
        spurious_continuation_on(&mut open_hid(addr)?)
    })
}

/// The body of [`spurious_continuation`] on an open channel (any transport).
pub fn spurious_continuation_on<D: HidDevice>(hid: &mut CtapHid<D>) -> Result<String, Error> {
    let cid = hid.cid();
    hid.send_raw(&cont_packet(cid, 0, &[1, 2, 3]))?;
    if let Some(p) = hid.recv_raw(Duration::from_millis(200))? {
        return fail(format!("answered a spurious continuation: {p:02x?}"));
    }
    ping_ok(hid)?;
    Ok("ignored; channel usable".into())
}

/// INIT on an allocated channel mid-message resynchronises it (§11.2.9.1.3).
pub fn init_resync(addr: SocketAddr) -> CheckReport {
    run("ctaphid_init_resync", || {
        init_resync_on(&mut open_hid(addr)?)
    })
}

/// The body of [`init_resync`] on an open channel (any transport).
pub fn init_resync_on<D: HidDevice>(hid: &mut CtapHid<D>) -> Result<String, Error> {
    let cid = hid.cid();
    start_long_ping(hid, cid)?;
    let nonce: [u8; 8] = random()?;
    hid.send_message(cid, cmd::INIT, &nonce)?;
    let r = InitResponse::parse(&hid.recv_message(cid, cmd::INIT)?)?;
    ensure(r.nonce == nonce, || {
        "resync INIT echoed another nonce".into()
    })?;
    hid.set_cid(r.cid);
    ping_ok(hid)?;
    Ok(format!(
        "INIT on {cid:08x} answered with CID {:08x}; channel usable",
        r.cid
    ))
}
