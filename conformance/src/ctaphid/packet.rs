//! CTAPHID framing (CTAP 2.1 §11.2.4): 64-byte init and continuation packets, message
//! fragmentation and strict reassembly of the device's replies.

use crate::Error;

/// HID report length for CTAPHID (CTAP 2.1 §11.2.4: 64-byte reports on full speed).
pub const REPORT_LEN: usize = 64;
/// Payload bytes in an initialization packet: 64 − CID(4) − CMD(1) − BCNT(2).
pub const INIT_DATA_LEN: usize = 57;
/// Payload bytes in a continuation packet: 64 − CID(4) − SEQ(1).
pub const CONT_DATA_LEN: usize = 59;
/// Largest message: 57 + 128 × 59 (CTAP 2.1 §11.2.4).
pub const MAX_MESSAGE_LEN: usize = INIT_DATA_LEN + 128 * CONT_DATA_LEN;
/// The broadcast channel, for CTAPHID_INIT only (CTAP 2.1 §11.2.3).
pub const BROADCAST_CID: u32 = 0xFFFF_FFFF;
/// Bit 7 of the command byte marks an initialization packet.
pub const TYPE_INIT: u8 = 0x80;

/// CTAPHID commands (CTAP 2.1 §11.2.9).
pub mod cmd {
    pub const PING: u8 = 0x01;
    pub const MSG: u8 = 0x03;
    pub const LOCK: u8 = 0x04;
    pub const INIT: u8 = 0x06;
    pub const WINK: u8 = 0x08;
    pub const CBOR: u8 = 0x10;
    pub const CANCEL: u8 = 0x11;
    pub const KEEPALIVE: u8 = 0x3B;
    pub const ERROR: u8 = 0x3F;
}

/// CTAPHID_ERROR codes (CTAP 2.1 §11.2.9.1.6).
pub mod err {
    pub const INVALID_CMD: u8 = 0x01;
    pub const INVALID_PAR: u8 = 0x02;
    pub const INVALID_LEN: u8 = 0x03;
    pub const INVALID_SEQ: u8 = 0x04;
    pub const MSG_TIMEOUT: u8 = 0x05;
    pub const CHANNEL_BUSY: u8 = 0x06;
    pub const LOCK_REQUIRED: u8 = 0x0A;
    pub const INVALID_CHANNEL: u8 = 0x0B;
    pub const OTHER: u8 = 0x7F;
}

/// CTAPHID_INIT capability flags (CTAP 2.1 §11.2.9.1.3).
pub mod capability {
    pub const WINK: u8 = 0x01;
    pub const CBOR: u8 = 0x04;
    pub const NMSG: u8 = 0x08;
}

/// CTAPHID_KEEPALIVE status codes (CTAP 2.1 §11.2.9.2.1).
pub mod keepalive {
    pub const PROCESSING: u8 = 1;
    pub const UPNEEDED: u8 = 2;
}

/// An initialization packet carrying `data` (≤ 57 bytes, zero-padded) with a BCNT that
/// may differ from `data.len()` (for malformed-input tests).
pub fn init_packet(cid: u32, command: u8, bcnt: u16, data: &[u8]) -> [u8; REPORT_LEN] {
    let mut p = [0u8; REPORT_LEN];
    let [c0, c1, c2, c3] = cid.to_be_bytes();
    let [b0, b1] = bcnt.to_be_bytes();
    let head = [c0, c1, c2, c3, command | TYPE_INIT, b0, b1];
    for (dst, src) in p
        .iter_mut()
        .zip(head.iter().chain(data.iter().take(INIT_DATA_LEN)))
    {
        *dst = *src;
    }
    p
}

/// A continuation packet with sequence number `seq` carrying `data` (≤ 59 bytes).
pub fn cont_packet(cid: u32, seq: u8, data: &[u8]) -> [u8; REPORT_LEN] {
    let mut p = [0u8; REPORT_LEN];
    let [c0, c1, c2, c3] = cid.to_be_bytes();
    let head = [c0, c1, c2, c3, seq];
    for (dst, src) in p
        .iter_mut()
        .zip(head.iter().chain(data.iter().take(CONT_DATA_LEN)))
    {
        *dst = *src;
    }
    p
}

/// Fragments a message into one init packet and up to 128 continuation packets.
pub fn encode_message(cid: u32, command: u8, data: &[u8]) -> Result<Vec<[u8; REPORT_LEN]>, Error> {
    let bcnt = u16::try_from(data.len())
        .ok()
        .filter(|&n| usize::from(n) <= MAX_MESSAGE_LEN)
        .ok_or_else(|| Error::Usage(format!("message of {} bytes exceeds 7609", data.len())))?;
    let (first, rest) = data.split_at(data.len().min(INIT_DATA_LEN));
    let mut out = vec![init_packet(cid, command, bcnt, first)];
    for (seq, chunk) in (0u8..).zip(rest.chunks(CONT_DATA_LEN)) {
        out.push(cont_packet(cid, seq, chunk));
    }
    Ok(out)
}

/// A received packet, split into its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    Init {
        cid: u32,
        command: u8,
        bcnt: u16,
        data: &'a [u8],
    },
    Cont {
        cid: u32,
        seq: u8,
        data: &'a [u8],
    },
}

impl<'a> Packet<'a> {
    pub fn parse(p: &'a [u8; REPORT_LEN]) -> Self {
        let (head, rest) = p.split_at(4);
        let cid = u32::from_be_bytes(head.try_into().unwrap_or([0; 4]));
        match rest.split_first() {
            Some((&c, tail)) if c & TYPE_INIT != 0 => {
                let (b, data) = tail.split_at(2);
                let bcnt = u16::from_be_bytes(b.try_into().unwrap_or([0; 2]));
                Packet::Init {
                    cid,
                    command: c & !TYPE_INIT,
                    bcnt,
                    data,
                }
            }
            Some((&seq, data)) => Packet::Cont { cid, seq, data },
            None => Packet::Cont {
                cid,
                seq: 0,
                data: &[],
            },
        }
    }

    pub fn cid(&self) -> u32 {
        match self {
            Packet::Init { cid, .. } | Packet::Cont { cid, .. } => *cid,
        }
    }
}

/// What one received packet meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fed {
    /// A CTAPHID_KEEPALIVE with this status.
    Keepalive(u8),
    /// Part of the reply; more packets follow.
    More,
    /// The whole reply.
    Done(Vec<u8>),
}

/// Reassembles one reply to `command` on `cid`; anything else is an error (CTAP 2.1
/// §11.2.4: a continuation must follow in sequence; the reply echoes the command).
#[derive(Debug)]
pub struct Reassembler {
    cid: u32,
    command: u8,
    expected: Option<usize>,
    data: Vec<u8>,
    next_seq: u8,
}

impl Reassembler {
    pub fn new(cid: u32, command: u8) -> Self {
        Reassembler {
            cid,
            command,
            expected: None,
            data: Vec::new(),
            next_seq: 0,
        }
    }

    pub fn feed(&mut self, raw: &[u8; REPORT_LEN]) -> Result<Fed, Error> {
        let packet = Packet::parse(raw);
        if packet.cid() != self.cid {
            return Err(Error::protocol(format!(
                "packet on channel {:08x} while waiting on {:08x}",
                packet.cid(),
                self.cid
            )));
        }
        match (self.expected, packet) {
            (
                None,
                Packet::Init {
                    command,
                    bcnt,
                    data,
                    ..
                },
            ) => {
                let first = data.first().copied().unwrap_or(0);
                match command {
                    cmd::KEEPALIVE if bcnt == 1 => match first {
                        keepalive::PROCESSING | keepalive::UPNEEDED => Ok(Fed::Keepalive(first)),
                        s => Err(Error::protocol(format!("KEEPALIVE with status {s}"))),
                    },
                    cmd::ERROR if bcnt == 1 => Err(Error::HidError(first)),
                    cmd::KEEPALIVE | cmd::ERROR => Err(Error::protocol(format!(
                        "command 0x{command:02x} with BCNT {bcnt}, expected 1"
                    ))),
                    c if c != self.command => Err(Error::protocol(format!(
                        "reply command 0x{c:02x} to a 0x{:02x} request",
                        self.command
                    ))),
                    _ => {
                        let total = usize::from(bcnt);
                        if total > MAX_MESSAGE_LEN {
                            return Err(Error::protocol(format!("reply BCNT {total} > 7609")));
                        }
                        self.expected = Some(total);
                        self.push(data, total)
                    }
                }
            }
            (None, Packet::Cont { seq, .. }) => Err(Error::protocol(format!(
                "continuation (seq {seq}) before an init packet"
            ))),
            (Some(_), Packet::Init { command, .. }) => Err(Error::protocol(format!(
                "init packet (command 0x{command:02x}) in the middle of a reply"
            ))),
            (Some(total), Packet::Cont { seq, data, .. }) => {
                if seq != self.next_seq {
                    return Err(Error::protocol(format!(
                        "reply continuation seq {seq}, expected {}",
                        self.next_seq
                    )));
                }
                self.next_seq = self.next_seq.wrapping_add(1);
                self.push(data, total)
            }
        }
    }

    fn push(&mut self, data: &[u8], total: usize) -> Result<Fed, Error> {
        let want = (total - self.data.len()).min(data.len());
        self.data
            .extend_from_slice(data.get(..want).unwrap_or_default());
        if self.data.len() == total {
            Ok(Fed::Done(std::mem::take(&mut self.data)))
        } else {
            Ok(Fed::More)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_message_is_7609() {
        assert_eq!(MAX_MESSAGE_LEN, 7609);
    }

    // The CTAPHID INIT request of usbip_protocol.rst's EXAMPLE (CmdIntrOUT payload).
    #[test]
    fn init_request_matches_kernel_example() {
        let nonce = [0xa7, 0x84, 0xce, 0x5a, 0xe2, 0x12, 0x37, 0x63];
        let p = encode_message(BROADCAST_CID, cmd::INIT, &nonce).unwrap();
        assert_eq!(p.len(), 1);
        let mut expected = [0u8; 64];
        expected[..15].copy_from_slice(&[
            0xff, 0xff, 0xff, 0xff, 0x86, 0x00, 0x08, 0xa7, 0x84, 0xce, 0x5a, 0xe2, 0x12, 0x37,
            0x63,
        ]);
        assert_eq!(p[0], expected);
    }

    #[test]
    fn fragmentation_is_byte_exact() {
        let data: Vec<u8> = (0..=119u8).collect(); // 57 + 59 + 4
        let p = encode_message(0x0102_0304, cmd::PING, &data).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(&p[0][..7], &[1, 2, 3, 4, 0x81, 0x00, 120]);
        assert_eq!(&p[0][7..], &data[..57]);
        assert_eq!(&p[1][..5], &[1, 2, 3, 4, 0]);
        assert_eq!(&p[1][5..], &data[57..116]);
        assert_eq!(&p[2][..5], &[1, 2, 3, 4, 1]);
        assert_eq!(&p[2][5..9], &data[116..]);
        assert!(p[2][9..].iter().all(|&b| b == 0));
    }

    #[test]
    fn empty_and_maximal_messages() {
        let p = encode_message(7, cmd::WINK, &[]).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(&p[0][..7], &[0, 0, 0, 7, 0x88, 0, 0]);
        let big = vec![0xAB; MAX_MESSAGE_LEN];
        let p = encode_message(7, cmd::CBOR, &big).unwrap();
        assert_eq!(p.len(), 129);
        assert_eq!(p[128][4], 127);
        assert!(encode_message(7, cmd::CBOR, &[0; MAX_MESSAGE_LEN + 1]).is_err());
    }

    #[test]
    fn reassembles_what_it_fragments() {
        for len in [0usize, 1, 57, 58, 116, 117, 1000, MAX_MESSAGE_LEN] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut r = Reassembler::new(9, cmd::CBOR);
            let packets = encode_message(9, cmd::CBOR, &data).unwrap();
            let (last, init) = packets.split_last().unwrap();
            for p in init {
                assert_eq!(r.feed(p).unwrap(), Fed::More);
            }
            assert_eq!(r.feed(last).unwrap(), Fed::Done(data));
        }
    }

    // CTAPHID INIT response of the kernel example (RetIntrIn payload).
    #[test]
    fn kernel_example_init_response_reassembles() {
        let mut p = [0u8; 64];
        p[..24].copy_from_slice(&[
            0xff, 0xff, 0xff, 0xff, 0x86, 0x00, 0x11, 0xa7, 0x84, 0xce, 0x5a, 0xe2, 0x12, 0x37,
            0x63, 0x61, 0x28, 0x91, 0xb1, 0x02, 0x01, 0x00, 0x00, 0x04,
        ]);
        let mut r = Reassembler::new(BROADCAST_CID, cmd::INIT);
        let Fed::Done(d) = r.feed(&p).unwrap() else {
            panic!("not done")
        };
        assert_eq!(d.len(), 17);
        assert_eq!(&d[8..12], &[0x61, 0x28, 0x91, 0xb1]);
    }

    #[test]
    fn keepalive_error_and_violations() {
        let mut r = Reassembler::new(5, cmd::CBOR);
        assert_eq!(
            r.feed(&init_packet(5, cmd::KEEPALIVE, 1, &[2])).unwrap(),
            Fed::Keepalive(2)
        );
        assert!(r.feed(&init_packet(5, cmd::KEEPALIVE, 1, &[9])).is_err());
        assert!(matches!(
            r.feed(&init_packet(5, cmd::ERROR, 1, &[err::CHANNEL_BUSY])),
            Err(Error::HidError(0x06))
        ));
        assert!(
            r.feed(&init_packet(6, cmd::CBOR, 1, &[0])).is_err(),
            "wrong channel"
        );
        assert!(
            r.feed(&init_packet(5, cmd::PING, 1, &[0])).is_err(),
            "wrong command"
        );
        assert!(
            r.feed(&cont_packet(5, 0, &[0])).is_err(),
            "continuation first"
        );
        assert!(
            r.feed(&init_packet(5, cmd::CBOR, 7610, &[0])).is_err(),
            "too long"
        );

        let mut r = Reassembler::new(5, cmd::CBOR);
        assert_eq!(
            r.feed(&init_packet(5, cmd::CBOR, 100, &[1; 57])).unwrap(),
            Fed::More
        );
        assert!(r.feed(&cont_packet(5, 1, &[1; 59])).is_err(), "skipped seq");
        let mut r = Reassembler::new(5, cmd::CBOR);
        assert_eq!(
            r.feed(&init_packet(5, cmd::CBOR, 100, &[1; 57])).unwrap(),
            Fed::More
        );
        assert!(
            r.feed(&init_packet(5, cmd::CBOR, 1, &[0])).is_err(),
            "init mid-reply"
        );
    }

    #[test]
    fn packet_parse_splits_fields() {
        let p = init_packet(0xAABBCCDD, cmd::MSG, 0x0102, &[9, 8]);
        assert_eq!(
            Packet::parse(&p),
            Packet::Init {
                cid: 0xAABBCCDD,
                command: cmd::MSG,
                bcnt: 0x0102,
                data: &p[7..]
            }
        );
        let c = cont_packet(1, 5, &[1]);
        assert_eq!(
            Packet::parse(&c),
            Packet::Cont {
                cid: 1,
                seq: 5,
                data: &c[5..]
            }
        );
    }
}
