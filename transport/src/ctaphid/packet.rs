//! CTAPHID packet layout (CTAP 2.1 §11.2.4): parsing one 64-byte report and
//! splitting a message into initialization and continuation packets.

use super::{CONT_DATA_SIZE, Command, INIT_DATA_SIZE, PACKET_SIZE};

/// One HID report of the FIDO interface.
pub type Packet = [u8; PACKET_SIZE];

/// A parsed report. Never fails: every 64-byte pattern is one of the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// `CID[4] CMD|0x80 BCNTH BCNTL DATA[57]`; `cmd` has the 0x80 bit cleared.
    Init {
        cid: u32,
        cmd: u8,
        bcnt: u16,
        data: &'a [u8; INIT_DATA_SIZE],
    },
    /// `CID[4] SEQ DATA[59]` with SEQ in 0..=0x7F.
    Cont {
        cid: u32,
        seq: u8,
        data: &'a [u8; CONT_DATA_SIZE],
    },
}

/// Splits a report into its fields (CTAP 2.1 §11.2.4: bit 7 of byte 4 tells
/// an initialization packet from a continuation packet).
pub fn parse(packet: &Packet) -> Parsed<'_> {
    let [c0, c1, c2, c3, byte4, rest @ ..] = packet;
    let cid = u32::from_be_bytes([*c0, *c1, *c2, *c3]);
    if byte4 & 0x80 != 0 {
        let [bh, bl, data @ ..] = rest;
        Parsed::Init {
            cid,
            cmd: byte4 & 0x7F,
            bcnt: u16::from_be_bytes([*bh, *bl]),
            data,
        }
    } else {
        Parsed::Cont {
            cid,
            seq: *byte4,
            data: rest,
        }
    }
}

/// Number of packets a message of `len` bytes needs.
pub fn packet_count(len: usize) -> usize {
    1 + len.saturating_sub(INIT_DATA_SIZE).div_ceil(CONT_DATA_SIZE)
}

/// Splits `payload` into packets on `cid` and hands each to `emit`
/// (CTAP 2.1 §11.2.4). The caller bounds `payload` to
/// [`super::MAX_MESSAGE_SIZE`]; longer payloads are cut at 128 continuation
/// packets rather than wrapping SEQ.
pub fn fragment(cid: u32, cmd: Command, payload: &[u8], mut emit: impl FnMut(Packet)) {
    let bcnt = u16::try_from(payload.len()).unwrap_or(u16::MAX);
    let (first, mut rest) = payload.split_at(payload.len().min(INIT_DATA_SIZE));
    let mut packet = [0u8; PACKET_SIZE];
    write_header(&mut packet, cid, &[(cmd as u8) | 0x80]);
    if let Some(b) = packet.get_mut(5..7) {
        b.copy_from_slice(&bcnt.to_be_bytes());
    }
    if let Some(dst) = packet.get_mut(7..7 + first.len()) {
        dst.copy_from_slice(first);
    }
    emit(packet);
    let mut seq = 0u8;
    while !rest.is_empty() && seq < 0x80 {
        let (chunk, tail) = rest.split_at(rest.len().min(CONT_DATA_SIZE));
        let mut packet = [0u8; PACKET_SIZE];
        write_header(&mut packet, cid, &[seq]);
        if let Some(dst) = packet.get_mut(5..5 + chunk.len()) {
            dst.copy_from_slice(chunk);
        }
        emit(packet);
        rest = tail;
        seq += 1;
    }
}

fn write_header(packet: &mut Packet, cid: u32, byte4: &[u8; 1]) {
    if let Some(dst) = packet.get_mut(0..4) {
        dst.copy_from_slice(&cid.to_be_bytes());
    }
    if let Some(dst) = packet.get_mut(4..5) {
        dst.copy_from_slice(byte4);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctaphid::MAX_MESSAGE_SIZE;

    #[test]
    fn parses_init_and_continuation() {
        let mut p = [0u8; 64];
        p[..4].copy_from_slice(&[1, 2, 3, 4]);
        p[4] = 0x90;
        p[5] = 0x01;
        p[6] = 0x02;
        p[7] = 0xAA;
        match parse(&p) {
            Parsed::Init {
                cid,
                cmd,
                bcnt,
                data,
            } => {
                assert_eq!(cid, 0x0102_0304);
                assert_eq!(cmd, 0x10);
                assert_eq!(bcnt, 0x0102);
                assert_eq!(data[0], 0xAA);
            }
            other => panic!("{other:?}"),
        }
        p[4] = 0x05;
        p[5] = 0xBB;
        match parse(&p) {
            Parsed::Cont { cid, seq, data } => {
                assert_eq!(cid, 0x0102_0304);
                assert_eq!(seq, 5);
                assert_eq!(data[0], 0xBB);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fragments_round_trip_at_every_boundary() {
        for len in [0, 1, 57, 58, 116, 117, 1000, MAX_MESSAGE_SIZE] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut packets = Vec::new();
            fragment(0xCAFE_F00D, Command::Ping, &payload, |p| packets.push(p));
            assert_eq!(packets.len(), packet_count(len), "len {len}");
            let mut out = Vec::new();
            for (i, p) in packets.iter().enumerate() {
                match parse(p) {
                    Parsed::Init {
                        cid,
                        cmd,
                        bcnt,
                        data,
                    } => {
                        assert_eq!(i, 0);
                        assert_eq!(cid, 0xCAFE_F00D);
                        assert_eq!(cmd, Command::Ping as u8);
                        assert_eq!(bcnt as usize, len);
                        out.extend_from_slice(&data[..len.min(57)]);
                    }
                    Parsed::Cont { seq, data, .. } => {
                        assert_eq!(seq as usize, i - 1);
                        let take = (len - out.len()).min(59);
                        out.extend_from_slice(&data[..take]);
                    }
                }
            }
            assert_eq!(out, payload);
        }
        assert_eq!(packet_count(MAX_MESSAGE_SIZE), 129);
    }
}
