//! A CTAPHID client (CTAP 2.1 §11.2) over any 64-byte HID report pipe.
//!
//! Allocates a channel with a broadcast CTAPHID_INIT, sends messages as init +
//! continuation packets, reassembles replies strictly, logs every KEEPALIVE with its
//! arrival time, and turns CTAPHID_ERROR into [`Error::HidError`]. Raw packet access is
//! there for malformed-input tests.

mod packet;

pub use packet::{
    BROADCAST_CID, CONT_DATA_LEN, Fed, INIT_DATA_LEN, MAX_MESSAGE_LEN, Packet, REPORT_LEN,
    Reassembler, TYPE_INIT, capability, cmd, cont_packet, encode_message, err, init_packet,
    keepalive,
};

use std::time::{Duration, Instant};

use crate::Error;

/// A pipe of 64-byte HID reports (what `/dev/hidraw*` gives a host).
pub trait HidDevice {
    /// Sends one output report.
    fn write_report(&mut self, report: &[u8; 64]) -> Result<(), Error>;
    /// The next input report, or None if none arrives within `timeout`.
    fn read_report(&mut self, timeout: Duration) -> Result<Option<[u8; 64]>, Error>;
}

impl<T: HidDevice + ?Sized> HidDevice for Box<T> {
    fn write_report(&mut self, report: &[u8; 64]) -> Result<(), Error> {
        (**self).write_report(report)
    }

    fn read_report(&mut self, timeout: Duration) -> Result<Option<[u8; 64]>, Error> {
        (**self).read_report(timeout)
    }
}

/// The 17-byte CTAPHID_INIT response (CTAP 2.1 §11.2.9.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitResponse {
    pub nonce: [u8; 8],
    pub cid: u32,
    pub protocol_version: u8,
    pub major: u8,
    pub minor: u8,
    pub build: u8,
    pub capabilities: u8,
}

impl InitResponse {
    pub fn parse(d: &[u8]) -> Result<Self, Error> {
        let mut c = crate::bytes::Cursor::new(d, "CTAPHID_INIT response");
        let r = InitResponse {
            nonce: c.array("nonce")?,
            cid: c.u32("cid")?,
            protocol_version: c.u8("protocol version")?,
            major: c.u8("major")?,
            minor: c.u8("minor")?,
            build: c.u8("build")?,
            capabilities: c.u8("capabilities")?,
        };
        if !c.is_empty() {
            return Err(Error::protocol(format!(
                "CTAPHID_INIT response is {} bytes, not 17",
                d.len()
            )));
        }
        Ok(r)
    }
}

/// One CTAPHID_KEEPALIVE as it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    pub at: Instant,
    pub status: u8,
}

/// A CTAPHID channel on a device.
#[derive(Debug)]
pub struct CtapHid<D> {
    dev: D,
    cid: u32,
    init: InitResponse,
    keepalives: Vec<Keepalive>,
    packet_timeout: Duration,
    overall_timeout: Duration,
    /// Drop packets of other channels while waiting for a reply, as libfido2 does, instead
    /// of calling them a protocol violation (one client on the device must never see
    /// them; a benchmark of a peer that sends empty reports should go on).
    skip_other_channels: bool,
    /// Packets dropped by `skip_other_channels`.
    skipped: u64,
}

impl<D: HidDevice> CtapHid<D> {
    /// Allocates a channel: broadcast CTAPHID_INIT with a random nonce, checks the echo.
    pub fn init(dev: D) -> Result<Self, Error> {
        let mut hid = CtapHid {
            dev,
            cid: BROADCAST_CID,
            init: InitResponse {
                nonce: [0; 8],
                cid: BROADCAST_CID,
                protocol_version: 0,
                major: 0,
                minor: 0,
                build: 0,
                capabilities: 0,
            },
            keepalives: Vec::new(),
            packet_timeout: Duration::from_secs(3),
            overall_timeout: Duration::from_secs(60),
            skip_other_channels: false,
            skipped: 0,
        };
        let r = hid.init_exchange()?;
        hid.cid = r.cid;
        hid.init = r;
        Ok(hid)
    }

    fn init_exchange(&mut self) -> Result<InitResponse, Error> {
        let mut nonce = [0u8; 8];
        crate::bytes::random_bytes(&mut nonce)?;
        self.send_message(BROADCAST_CID, cmd::INIT, &nonce)?;
        let r = InitResponse::parse(&self.recv_message(BROADCAST_CID, cmd::INIT)?)?;
        // CTAP 2.1 §11.2.9.1.3: the nonce identifies our reply.
        if r.nonce != nonce {
            return Err(Error::protocol("CTAPHID_INIT reply echoes another nonce"));
        }
        if r.cid == 0 || r.cid == BROADCAST_CID {
            return Err(Error::protocol(format!(
                "CTAPHID_INIT allocated reserved CID {:08x}",
                r.cid
            )));
        }
        Ok(r)
    }

    /// Another broadcast INIT: returns a fresh CID without switching to it.
    pub fn allocate_channel(&mut self) -> Result<u32, Error> {
        Ok(self.init_exchange()?.cid)
    }

    /// The channel this client speaks on.
    pub fn cid(&self) -> u32 {
        self.cid
    }

    /// Switches to another (already allocated) channel.
    pub fn set_cid(&mut self, cid: u32) {
        self.cid = cid;
    }

    /// The INIT response that allocated the current channel.
    pub fn init_response(&self) -> &InitResponse {
        &self.init
    }

    pub fn protocol_version(&self) -> u8 {
        self.init.protocol_version
    }

    /// (major, minor, build) device version.
    pub fn version(&self) -> (u8, u8, u8) {
        (self.init.major, self.init.minor, self.init.build)
    }

    pub fn capabilities(&self) -> u8 {
        self.init.capabilities
    }

    /// `packet`: longest silence between two packets of a reply (keepalives count);
    /// `overall`: longest whole reply. Defaults 3 s and 60 s.
    pub fn set_timeouts(&mut self, packet: Duration, overall: Duration) {
        self.packet_timeout = packet;
        self.overall_timeout = overall;
    }

    /// Drop packets of other channels while a reply is awaited (off by default: every
    /// check treats them as a protocol violation).
    pub fn set_skip_other_channels(&mut self, skip: bool) {
        self.skip_other_channels = skip;
    }

    /// How many packets of other channels were dropped so far.
    pub fn skipped_packets(&self) -> u64 {
        self.skipped
    }

    /// Every KEEPALIVE received so far, in order.
    pub fn keepalives(&self) -> &[Keepalive] {
        &self.keepalives
    }

    pub fn clear_keepalives(&mut self) {
        self.keepalives.clear();
    }

    pub fn device(&mut self) -> &mut D {
        &mut self.dev
    }

    pub fn into_device(self) -> D {
        self.dev
    }

    /// Sends a whole message on `cid`.
    pub fn send_message(&mut self, cid: u32, command: u8, data: &[u8]) -> Result<(), Error> {
        for p in encode_message(cid, command, data)? {
            self.dev.write_report(&p)?;
        }
        Ok(())
    }

    /// Receives the reply to `command` on `cid`, logging keepalives.
    pub fn recv_message(&mut self, cid: u32, command: u8) -> Result<Vec<u8>, Error> {
        let mut r = Reassembler::new(cid, command);
        let deadline = Instant::now() + self.overall_timeout;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout(format!(
                    "reply to CTAPHID command 0x{command:02x}"
                )));
            }
            let wait = self.packet_timeout.min(deadline - now);
            let Some(p) = self.dev.read_report(wait)? else {
                return Err(Error::Timeout(format!(
                    "next packet of the reply to CTAPHID command 0x{command:02x}"
                )));
            };
            if self.skip_other_channels && Packet::parse(&p).cid() != cid {
                self.skipped += 1;
                continue;
            }
            match r.feed(&p)? {
                Fed::Keepalive(status) => {
                    self.keepalives.push(Keepalive {
                        at: Instant::now(),
                        status,
                    });
                }
                Fed::More => {}
                Fed::Done(d) => return Ok(d),
            }
        }
    }

    /// Sends `command` with `data` on the channel and returns the reply.
    pub fn transact(&mut self, command: u8, data: &[u8]) -> Result<Vec<u8>, Error> {
        self.begin(command, data)?;
        self.finish(command)
    }

    /// Sends a request without waiting for its reply.
    pub fn begin(&mut self, command: u8, data: &[u8]) -> Result<(), Error> {
        self.send_message(self.cid, command, data)
    }

    /// Waits for the reply to a request sent with [`CtapHid::begin`].
    pub fn finish(&mut self, command: u8) -> Result<Vec<u8>, Error> {
        self.recv_message(self.cid, command)
    }

    /// CTAPHID_PING (§11.2.9.1.4): returns what the device echoed.
    pub fn ping(&mut self, data: &[u8]) -> Result<Vec<u8>, Error> {
        self.transact(cmd::PING, data)
    }

    /// CTAPHID_MSG (§11.2.9.1.1): a U2F APDU; returns response data + SW.
    pub fn msg(&mut self, apdu: &[u8]) -> Result<Vec<u8>, Error> {
        self.transact(cmd::MSG, apdu)
    }

    /// CTAPHID_WINK (§11.2.9.2.1); the reply must be empty.
    pub fn wink(&mut self) -> Result<(), Error> {
        let r = self.transact(cmd::WINK, &[])?;
        if !r.is_empty() {
            return Err(Error::protocol(format!(
                "WINK reply carries {} bytes",
                r.len()
            )));
        }
        Ok(())
    }

    /// CTAPHID_CBOR (§11.2.9.1.2): returns (CTAP status byte, response body).
    pub fn cbor(&mut self, command: u8, payload: &[u8]) -> Result<(u8, Vec<u8>), Error> {
        self.begin_cbor(command, payload)?;
        self.finish_cbor()
    }

    /// Sends a CTAP2 command without waiting (e.g. to cancel it).
    pub fn begin_cbor(&mut self, command: u8, payload: &[u8]) -> Result<(), Error> {
        let mut m = Vec::with_capacity(payload.len() + 1);
        m.push(command);
        m.extend_from_slice(payload);
        self.begin(cmd::CBOR, &m)
    }

    /// Waits for the reply to [`CtapHid::begin_cbor`].
    pub fn finish_cbor(&mut self) -> Result<(u8, Vec<u8>), Error> {
        let r = self.finish(cmd::CBOR)?;
        let (status, body) = r
            .split_first()
            .ok_or_else(|| Error::protocol("empty CTAPHID_CBOR reply (no status byte)"))?;
        Ok((*status, body.to_vec()))
    }

    /// CTAPHID_CANCEL (§11.2.9.1.5) on the channel; it has no reply.
    pub fn cancel(&mut self) -> Result<(), Error> {
        self.dev
            .write_report(&init_packet(self.cid, cmd::CANCEL, 0, &[]))
    }

    /// Sends one packet as is.
    pub fn send_raw(&mut self, packet: &[u8; 64]) -> Result<(), Error> {
        self.dev.write_report(packet)
    }

    /// Reads one packet as is (None on timeout).
    pub fn recv_raw(&mut self, timeout: Duration) -> Result<Option<[u8; 64]>, Error> {
        self.dev.read_report(timeout)
    }
}

#[cfg(test)]
mod tests;
