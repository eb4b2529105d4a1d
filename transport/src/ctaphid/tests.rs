//! CTAPHID state machine tests with a virtual clock: every point of the
//! CTAPHID rules in transport/README.md, no sleeps.

use std::time::{Duration, Instant};

use super::packet::{Parsed, fragment, parse};
use super::*;
use crate::handler::{KeepaliveStatus, RequestKind};

const MS: Duration = Duration::from_millis(1);

struct Harness {
    ct: Ctaphid,
    now: Instant,
}

#[derive(Debug, PartialEq, Eq)]
struct Msg {
    cid: u32,
    cmd: u8,
    payload: Vec<u8>,
}

impl Harness {
    fn new() -> Self {
        Self {
            ct: Ctaphid::new(CtaphidConfig {
                first_cid: 0x1000_0000,
                ..CtaphidConfig::default()
            }),
            now: Instant::now(),
        }
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.ct.handle_timeout(self.now);
    }

    fn packet(&mut self, p: &Packet) {
        self.ct.handle_packet(self.now, p);
    }

    fn send(&mut self, cid: u32, cmd: Command, payload: &[u8]) {
        let mut packets = Vec::new();
        fragment(cid, cmd, payload, |p| packets.push(p));
        for p in &packets {
            self.packet(p);
        }
    }

    /// Reassembles everything queued for the host.
    fn recv(&mut self) -> Vec<Msg> {
        let mut out: Vec<Msg> = Vec::new();
        let mut remaining = 0usize;
        while let Some(p) = self.ct.poll_transmit() {
            match parse(&p) {
                Parsed::Init {
                    cid,
                    cmd,
                    bcnt,
                    data,
                } => {
                    assert_eq!(remaining, 0, "init packet inside a message");
                    let n = (bcnt as usize).min(57);
                    remaining = bcnt as usize - n;
                    out.push(Msg {
                        cid,
                        cmd,
                        payload: data[..n].to_vec(),
                    });
                }
                Parsed::Cont { data, .. } => {
                    let n = remaining.min(59);
                    remaining -= n;
                    out.last_mut()
                        .unwrap()
                        .payload
                        .extend_from_slice(&data[..n]);
                }
            }
        }
        assert_eq!(remaining, 0, "truncated message");
        out
    }

    fn init(&mut self) -> u32 {
        let nonce = [1, 2, 3, 4, 5, 6, 7, 8];
        self.send(BROADCAST_CID, Command::Init, &nonce);
        let msgs = self.recv();
        assert_eq!(msgs.len(), 1);
        let m = &msgs[0];
        assert_eq!(m.cid, BROADCAST_CID);
        assert_eq!(m.cmd, Command::Init as u8);
        assert_eq!(m.payload.len(), 17);
        assert_eq!(&m.payload[..8], &nonce);
        u32::from_be_bytes(m.payload[8..12].try_into().unwrap())
    }

    fn dispatch(&mut self) -> Dispatch {
        match self.ct.poll_event() {
            Some(Event::Request(d)) => d,
            other => panic!("expected a request, got {other:?}"),
        }
    }
}

fn error(cid: u32, code: ErrorCode) -> Msg {
    Msg {
        cid,
        cmd: Command::Error as u8,
        payload: vec![code as u8],
    }
}

fn init_packet(cid: u32, cmd: u8, bcnt: u16) -> Packet {
    let mut p = [0u8; 64];
    p[..4].copy_from_slice(&cid.to_be_bytes());
    p[4] = cmd | 0x80;
    p[5..7].copy_from_slice(&bcnt.to_be_bytes());
    p
}

fn cont_packet(cid: u32, seq: u8) -> Packet {
    let mut p = [0u8; 64];
    p[..4].copy_from_slice(&cid.to_be_bytes());
    p[4] = seq;
    p
}

#[test]
fn init_on_broadcast_allocates_a_channel() {
    let mut h = Harness::new();
    h.send(BROADCAST_CID, Command::Init, &[9; 8]);
    let m = &h.recv()[0];
    let cid = u32::from_be_bytes(m.payload[8..12].try_into().unwrap());
    assert_ne!(cid, 0);
    assert_ne!(cid, BROADCAST_CID);
    assert_eq!(m.payload[12], 2, "CTAPHID protocol version");
    assert_eq!(&m.payload[13..16], &[0, 1, 0]);
    // WINK | CBOR, and not NMSG because MSG is served.
    assert_eq!(m.payload[16], 0x05);
    let second = h.init();
    assert_ne!(cid, second);
    assert_eq!(h.ct.channel_count(), 2);
}

#[test]
fn init_with_wrong_length_is_invalid_len() {
    let mut h = Harness::new();
    h.send(BROADCAST_CID, Command::Init, &[1; 7]);
    assert_eq!(h.recv(), vec![error(BROADCAST_CID, ErrorCode::InvalidLen)]);
}

#[test]
fn init_on_allocated_channel_resynchronises() {
    let mut h = Harness::new();
    let cid = h.init();
    // Half a message, then INIT on the same channel.
    h.packet(&init_packet(cid, Command::Ping as u8, 100));
    h.send(cid, Command::Init, &[7; 8]);
    let msgs = h.recv();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].cid, cid);
    assert_eq!(&msgs[0].payload[8..12], &cid.to_be_bytes(), "same CID");
    assert!(!h.ct.is_busy());
    // The old continuation is now spurious.
    h.packet(&cont_packet(cid, 0));
    assert!(h.recv().is_empty());

    // Resync during processing cancels, and the late answer is dropped.
    h.send(cid, Command::Cbor, &[0x04]);
    let d = h.dispatch();
    h.send(cid, Command::Init, &[7; 8]);
    assert!(d.signals.is_cancelled());
    assert_eq!(h.recv().len(), 1);
    h.ct.complete(d.id, &[0x2D]);
    assert!(h.recv().is_empty());
}

#[test]
fn ping_echoes_single_and_multi_packet() {
    let mut h = Harness::new();
    let cid = h.init();
    for len in [0usize, 1, 57, 58, 1000, MAX_MESSAGE_SIZE] {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        h.send(cid, Command::Ping, &payload);
        assert_eq!(
            h.recv(),
            vec![Msg {
                cid,
                cmd: Command::Ping as u8,
                payload
            }],
            "len {len}"
        );
    }
}

#[test]
fn cbor_and_msg_go_to_the_handler() {
    let mut h = Harness::new();
    let cid = h.init();
    let body: Vec<u8> = (0..300).map(|i| i as u8).collect();
    h.send(cid, Command::Cbor, &body);
    let d = h.dispatch();
    assert_eq!(d.request.channel, cid);
    assert_eq!(d.request.kind, RequestKind::Cbor);
    assert_eq!(d.request.payload, body);
    assert!(h.ct.is_busy());
    h.ct.complete(d.id, &[0x00, 0xA0]);
    assert_eq!(
        h.recv(),
        vec![Msg {
            cid,
            cmd: Command::Cbor as u8,
            payload: vec![0x00, 0xA0]
        }]
    );
    assert!(!h.ct.is_busy());

    h.send(cid, Command::Msg, &[0x00, 0x03, 0x00, 0x00]);
    let d = h.dispatch();
    assert_eq!(d.request.kind, RequestKind::Msg);
    h.ct.complete(d.id, &[0x6D, 0x00]);
    assert_eq!(h.recv()[0].cmd, Command::Msg as u8);
}

#[test]
fn a_device_without_the_cbor_capability_refuses_cbor_and_serves_msg() {
    let mut h = Harness::new();
    h.ct = Ctaphid::new(CtaphidConfig {
        first_cid: 0x1000_0000,
        capabilities: CAPABILITY_WINK,
        ..CtaphidConfig::default()
    });
    let cid = h.init();
    h.send(cid, Command::Cbor, &[0x04]);
    assert_eq!(h.recv(), vec![error(cid, ErrorCode::InvalidCmd)]);
    assert!(h.ct.poll_event().is_none());
    h.send(cid, Command::Msg, &[0x00, 0x03, 0x00, 0x00]);
    assert_eq!(h.dispatch().request.kind, RequestKind::Msg);
}

#[test]
fn empty_cbor_is_invalid_len() {
    let mut h = Harness::new();
    let cid = h.init();
    h.send(cid, Command::Cbor, &[]);
    assert_eq!(h.recv(), vec![error(cid, ErrorCode::InvalidLen)]);
    assert!(h.ct.poll_event().is_none());
}

#[test]
fn oversized_bcnt_is_invalid_len_without_state() {
    let mut h = Harness::new();
    let cid = h.init();
    h.packet(&init_packet(cid, Command::Cbor as u8, 7610));
    assert_eq!(h.recv(), vec![error(cid, ErrorCode::InvalidLen)]);
    assert!(!h.ct.is_busy());
    h.packet(&init_packet(cid, Command::Ping as u8, u16::MAX));
    assert_eq!(h.recv(), vec![error(cid, ErrorCode::InvalidLen)]);
    // Exactly the maximum is accepted.
    h.packet(&init_packet(cid, Command::Ping as u8, 7609));
    assert!(h.ct.is_busy());
}

#[test]
fn skipped_or_duplicate_seq_aborts() {
    for bad in [1u8, 0] {
        let mut h = Harness::new();
        let cid = h.init();
        h.packet(&init_packet(cid, Command::Ping as u8, 200));
        if bad == 0 {
            h.packet(&cont_packet(cid, 0)); // then duplicate 0
        }
        h.packet(&cont_packet(cid, bad));
        assert_eq!(
            h.recv(),
            vec![error(cid, ErrorCode::InvalidSeq)],
            "seq {bad}"
        );
        assert!(!h.ct.is_busy());
        h.packet(&cont_packet(cid, 2));
        assert!(h.recv().is_empty(), "aborted transaction stays aborted");
    }
}

#[test]
fn other_channel_is_busy_while_assembling_and_processing() {
    let mut h = Harness::new();
    let a = h.init();
    let b = h.init();
    let payload: Vec<u8> = (0..100).map(|i| i as u8).collect();
    let mut packets = Vec::new();
    fragment(a, Command::Ping, &payload, |p| packets.push(p));
    h.packet(&packets[0]);
    h.send(b, Command::Ping, &[1]);
    assert_eq!(h.recv(), vec![error(b, ErrorCode::ChannelBusy)]);
    // INIT from elsewhere is still answered mid-transaction.
    let c = h.init();
    assert_ne!(c, a);
    // The original continues.
    h.packet(&packets[1]);
    assert_eq!(h.recv()[0].payload, payload);

    h.send(a, Command::Cbor, &[0x04]);
    let d = h.dispatch();
    h.send(b, Command::Cbor, &[0x04]);
    h.send(a, Command::Ping, &[1]);
    assert_eq!(
        h.recv(),
        vec![
            error(b, ErrorCode::ChannelBusy),
            error(a, ErrorCode::ChannelBusy)
        ]
    );
    h.ct.complete(d.id, &[0]);
    h.send(b, Command::Ping, &[1]);
    let msgs = h.recv();
    assert_eq!(msgs[1].cid, b);
    assert_eq!(msgs[1].cmd, Command::Ping as u8);
}

#[test]
fn new_message_on_same_channel_mid_assembly_is_invalid_seq() {
    let mut h = Harness::new();
    let a = h.init();
    h.packet(&init_packet(a, Command::Ping as u8, 100));
    h.send(a, Command::Ping, &[1]);
    assert_eq!(h.recv(), vec![error(a, ErrorCode::InvalidSeq)]);
    assert!(!h.ct.is_busy());
}

#[test]
fn invalid_channels() {
    let mut h = Harness::new();
    h.send(0, Command::Init, &[0; 8]);
    h.send(BROADCAST_CID, Command::Ping, &[1]);
    h.send(0x1234_5678, Command::Ping, &[1]);
    h.send(0x1234_5678, Command::Init, &[0; 8]);
    assert_eq!(
        h.recv(),
        vec![
            error(0, ErrorCode::InvalidChannel),
            error(BROADCAST_CID, ErrorCode::InvalidChannel),
            error(0x1234_5678, ErrorCode::InvalidChannel),
            error(0x1234_5678, ErrorCode::InvalidChannel),
        ]
    );
    assert_eq!(h.ct.channel_count(), 0);
}

#[test]
fn init_flood_is_bounded_and_spares_the_busy_channel() {
    let mut h = Harness::new();
    let busy = h.init();
    h.send(busy, Command::Cbor, &[0x04]);
    let d = h.dispatch();
    for _ in 0..10_000 {
        h.send(BROADCAST_CID, Command::Init, &[0; 8]);
        h.recv();
    }
    assert_eq!(h.ct.channel_count(), 256);
    h.ct.complete(d.id, &[0]);
    assert_eq!(h.recv()[0].cid, busy);
    h.send(busy, Command::Ping, &[5]);
    assert_eq!(h.recv()[0].cmd, Command::Ping as u8);
}

#[test]
fn spurious_continuation_is_ignored() {
    let mut h = Harness::new();
    let cid = h.init();
    h.packet(&cont_packet(cid, 0));
    h.packet(&cont_packet(0xDEAD_BEEF, 3));
    assert!(h.recv().is_empty());
    assert!(!h.ct.is_busy());
}

#[test]
fn unknown_lock_and_device_only_commands_are_invalid_cmd() {
    let mut h = Harness::new();
    let cid = h.init();
    for cmd in [
        0x7Fu8,
        0x02,
        Command::Lock as u8,
        Command::Keepalive as u8,
        0x3F,
    ] {
        h.packet(&init_packet(cid, cmd, 1));
        assert_eq!(
            h.recv(),
            vec![error(cid, ErrorCode::InvalidCmd)],
            "cmd {cmd:#x}"
        );
    }
}

#[test]
fn stalled_message_times_out() {
    let mut h = Harness::new();
    let cid = h.init();
    h.packet(&init_packet(cid, Command::Ping as u8, 200));
    assert_eq!(h.ct.poll_timeout(), Some(h.now + 500 * MS));
    h.advance(300 * MS);
    h.packet(&cont_packet(cid, 0));
    // A continuation restarts the timer.
    assert_eq!(h.ct.poll_timeout(), Some(h.now + 500 * MS));
    h.advance(499 * MS);
    assert!(h.recv().is_empty());
    h.advance(MS);
    assert_eq!(h.recv(), vec![error(cid, ErrorCode::MsgTimeout)]);
    assert_eq!(h.ct.poll_timeout(), None);
}

#[test]
fn keepalives_while_processing_then_none() {
    let mut h = Harness::new();
    let cid = h.init();
    h.send(cid, Command::Cbor, &[0x01]);
    let d = h.dispatch();
    let start = h.now;
    let first = h.ct.poll_timeout().unwrap();
    assert!(first - start >= 50 * MS && first - start <= 100 * MS);
    let mut times = Vec::new();
    let mut statuses = Vec::new();
    while h.now - start < Duration::from_secs(1) {
        let next = h.ct.poll_timeout().unwrap();
        h.now = next;
        h.ct.handle_timeout(h.now);
        for m in h.recv() {
            assert_eq!(m.cid, cid);
            assert_eq!(m.cmd, Command::Keepalive as u8);
            times.push(h.now);
            statuses.push(m.payload[0]);
        }
        if h.now - start > Duration::from_millis(400) {
            d.signals.set_status(KeepaliveStatus::UpNeeded);
        }
    }
    assert!(times.len() >= 10);
    assert!(times[0] - start <= 100 * MS);
    for w in times.windows(2) {
        assert!(w[1] - w[0] <= 100 * MS);
    }
    assert_eq!(statuses[0], 1, "PROCESSING");
    assert_eq!(*statuses.last().unwrap(), 2, "UPNEEDED");
    h.ct.complete(d.id, &[0]);
    assert_eq!(h.recv()[0].cmd, Command::Cbor as u8);
    assert_eq!(h.ct.poll_timeout(), None);
    h.advance(Duration::from_secs(1));
    assert!(h.recv().is_empty(), "no keepalive after the response");
}

#[test]
fn cancel_signals_the_request_and_gets_no_reply() {
    let mut h = Harness::new();
    let cid = h.init();
    let other = h.init();
    h.send(cid, Command::Cbor, &[0x01]);
    let d = h.dispatch();
    h.send(other, Command::Cancel, &[]);
    assert!(!d.signals.is_cancelled(), "CANCEL on another channel");
    h.send(cid, Command::Cancel, &[]);
    assert!(d.signals.is_cancelled());
    assert!(h.recv().is_empty());
    h.ct.complete(d.id, &[0x2D]);
    assert_eq!(
        h.recv(),
        vec![Msg {
            cid,
            cmd: Command::Cbor as u8,
            payload: vec![0x2D]
        }]
    );
}

#[test]
fn wink_answers_empty_and_raises_an_event() {
    let mut h = Harness::new();
    let cid = h.init();
    h.send(cid, Command::Wink, &[]);
    assert!(matches!(h.ct.poll_event(), Some(Event::Wink)));
    assert_eq!(
        h.recv(),
        vec![Msg {
            cid,
            cmd: Command::Wink as u8,
            payload: vec![]
        }]
    );
}

#[test]
fn abort_cancels_and_drops_output() {
    let mut h = Harness::new();
    let cid = h.init();
    h.send(cid, Command::Cbor, &[0x01]);
    let d = h.dispatch();
    h.advance(60 * MS);
    h.ct.abort();
    assert!(d.signals.is_cancelled());
    assert!(h.recv().is_empty());
    h.ct.complete(d.id, &[0]);
    assert!(h.recv().is_empty());
}

#[test]
fn oversized_response_is_err_other() {
    let mut h = Harness::new();
    let cid = h.init();
    h.send(cid, Command::Cbor, &[0x01]);
    let d = h.dispatch();
    h.ct.complete(d.id, &vec![0; MAX_MESSAGE_SIZE + 1]);
    assert_eq!(h.recv(), vec![error(cid, ErrorCode::Other)]);
}

#[test]
fn output_is_bounded_when_the_host_reads_nothing() {
    let mut h = Harness::new();
    let cid = h.init();
    let big = vec![0u8; MAX_MESSAGE_SIZE];
    for _ in 0..10 {
        h.send(cid, Command::Ping, &big);
    }
    let mut n = 0;
    while h.ct.poll_transmit().is_some() {
        n += 1;
    }
    assert_eq!(n, 3 * 129);
}
