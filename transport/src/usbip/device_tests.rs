//! Device model tests: control transfers (truncation, STALL), pending
//! interrupt-IN URBs, UNLINK, and CTAPHID over the interrupt endpoints.

use std::time::{Duration, Instant};

use super::*;
use crate::ctaphid::{BROADCAST_CID, CtaphidConfig, Event};
use crate::usbip::codec::{UrbReply, parse_reply_header};
use crate::usbip::descriptors::REPORT_DESCRIPTOR;

const DEVID: u32 = 0x0001_0002;

#[derive(Debug, PartialEq, Eq)]
enum Reply {
    Submit {
        seq: u32,
        status: i32,
        data: Vec<u8>,
    },
    Unlink {
        seq: u32,
        status: i32,
    },
}

fn replies(out: &mut Vec<u8>, in_seqs: &[u32]) -> Vec<Reply> {
    let mut v = Vec::new();
    let mut rest = &out[..];
    while !rest.is_empty() {
        let (h, tail) = rest.split_first_chunk::<48>().unwrap();
        match parse_reply_header(h).unwrap() {
            UrbReply::Submit {
                seqnum,
                status,
                actual_length,
            } => {
                let n = if in_seqs.contains(&seqnum) {
                    actual_length as usize
                } else {
                    0
                };
                v.push(Reply::Submit {
                    seq: seqnum,
                    status,
                    data: tail[..n].to_vec(),
                });
                rest = &tail[n..];
            }
            UrbReply::Unlink { seqnum, status } => {
                v.push(Reply::Unlink {
                    seq: seqnum,
                    status,
                });
                rest = tail;
            }
        }
    }
    out.clear();
    v
}

fn device() -> Device {
    Device::new(
        &DeviceConfig::new("SN"),
        Ctaphid::new(CtaphidConfig::default()),
    )
}

fn submit(seq: u32, ep: u32, dir: Direction, len: u32, setup: [u8; 8]) -> UrbCommand {
    UrbCommand::Submit(CmdSubmit {
        seqnum: seq,
        devid: DEVID,
        direction: dir,
        ep,
        transfer_flags: 0,
        transfer_buffer_length: len,
        start_frame: 0,
        number_of_packets: 0,
        interval: 0,
        setup,
    })
}

fn unlink(seq: u32, target: u32) -> UrbCommand {
    UrbCommand::Unlink(CmdUnlink {
        seqnum: seq,
        devid: DEVID,
        direction: Direction::Out,
        ep: 0,
        unlink_seqnum: target,
    })
}

fn get(d: &mut Device, seq: u32, setup: [u8; 8], buf: u32) -> Reply {
    let mut out = Vec::new();
    d.handle_command(
        Instant::now(),
        &submit(seq, 0, Direction::In, buf, setup),
        &[],
        &mut out,
    )
    .unwrap();
    let mut r = replies(&mut out, &[seq]);
    assert_eq!(r.len(), 1);
    r.remove(0)
}

fn init_packet(nonce: u8) -> [u8; 64] {
    let mut p = [0u8; 64];
    p[..4].copy_from_slice(&BROADCAST_CID.to_be_bytes());
    p[4] = 0x86;
    p[6] = 8;
    p[7..15].fill(nonce);
    p
}

#[test]
fn control_replies_are_truncated_to_wlength_and_buffer() {
    let mut d = device();
    // GET_DESCRIPTOR(device) with wLength 8, as Linux asks first.
    let Reply::Submit { status, data, .. } = get(&mut d, 1, [0x80, 6, 0, 1, 0, 0, 8, 0], 64) else {
        panic!()
    };
    assert_eq!((status, data.len()), (0, 8));
    assert_eq!(&data[..2], &[18, 1]);
    // Configuration with wLength 9 returns only the header.
    let Reply::Submit { data, .. } = get(&mut d, 2, [0x80, 6, 0, 2, 0, 0, 9, 0], 9) else {
        panic!()
    };
    assert_eq!(data.len(), 9);
    assert_eq!(u16::from_le_bytes([data[2], data[3]]), 41);
    // wLength 255 but a 4-byte URB buffer: never more than the buffer.
    let Reply::Submit { data, .. } = get(&mut d, 3, [0x80, 6, 0, 2, 0, 0, 255, 0], 4) else {
        panic!()
    };
    assert_eq!(data.len(), 4);
    // Report descriptor via the interface recipient, in full.
    let Reply::Submit { data, .. } = get(&mut d, 4, [0x81, 6, 0, 0x22, 0, 0, 0x22, 0], 0x22) else {
        panic!()
    };
    assert_eq!(data, REPORT_DESCRIPTOR);
}

#[test]
fn unknown_control_request_stalls_with_no_data() {
    let mut d = device();
    assert_eq!(
        get(&mut d, 5, [0x80, 6, 0, 0x0A, 0, 0, 4, 0], 4),
        Reply::Submit {
            seq: 5,
            status: -32,
            data: vec![]
        }
    );
    // SET_CONFIGURATION is acknowledged with no data.
    let mut out = Vec::new();
    d.handle_command(
        Instant::now(),
        &submit(6, 0, Direction::Out, 0, [0, 9, 1, 0, 0, 0, 0, 0]),
        &[],
        &mut out,
    )
    .unwrap();
    assert_eq!(
        replies(&mut out, &[]),
        vec![Reply::Submit {
            seq: 6,
            status: 0,
            data: vec![]
        }]
    );
}

#[test]
fn interrupt_in_stays_pending_until_a_report_exists() {
    let mut d = device();
    let now = Instant::now();
    let mut out = Vec::new();
    d.handle_command(
        now,
        &submit(10, 1, Direction::In, 64, [0; 8]),
        &[],
        &mut out,
    )
    .unwrap();
    d.handle_timeout(now + Duration::from_secs(5), &mut out);
    assert!(out.is_empty(), "no empty completion");
    assert_eq!(d.pending_in(), 1);

    d.handle_command(
        now,
        &submit(11, 1, Direction::Out, 64, [0; 8]),
        &init_packet(7),
        &mut out,
    )
    .unwrap();
    let r = replies(&mut out, &[10]);
    // OUT completes first, then the IN URB carries the INIT answer.
    assert_eq!(
        r[0],
        Reply::Submit {
            seq: 11,
            status: 0,
            data: vec![]
        }
    );
    assert!(matches!(
        r[1],
        Reply::Submit {
            seq: 10,
            status: 0,
            ..
        }
    ));
    assert_eq!(d.pending_in(), 0);
}

#[test]
fn in_reply_carries_64_bytes() {
    let mut d = device();
    let now = Instant::now();
    let mut out = Vec::new();
    d.handle_command(
        now,
        &submit(1, 1, Direction::Out, 64, [0; 8]),
        &init_packet(3),
        &mut out,
    )
    .unwrap();
    replies(&mut out, &[]);
    d.handle_command(now, &submit(2, 1, Direction::In, 64, [0; 8]), &[], &mut out)
        .unwrap();
    let r = replies(&mut out, &[2]);
    let Reply::Submit {
        seq: 2,
        status: 0,
        data,
    } = &r[0]
    else {
        panic!("{r:?}")
    };
    assert_eq!(data.len(), 64);
    assert_eq!(&data[..5], &[0xFF, 0xFF, 0xFF, 0xFF, 0x86]);
    assert_eq!(&data[7..15], &[3; 8], "nonce");
}

#[test]
fn unlink_of_pending_in_is_econnreset_and_never_answered() {
    let mut d = device();
    let now = Instant::now();
    let mut out = Vec::new();
    d.handle_command(
        now,
        &submit(20, 1, Direction::In, 64, [0; 8]),
        &[],
        &mut out,
    )
    .unwrap();
    d.handle_command(now, &unlink(21, 20), &[], &mut out)
        .unwrap();
    assert_eq!(
        replies(&mut out, &[]),
        vec![Reply::Unlink {
            seq: 21,
            status: -104
        }]
    );
    // A report now finds no URB for seq 20.
    d.handle_command(
        now,
        &submit(22, 1, Direction::Out, 64, [0; 8]),
        &init_packet(1),
        &mut out,
    )
    .unwrap();
    assert_eq!(
        replies(&mut out, &[]),
        vec![Reply::Submit {
            seq: 22,
            status: 0,
            data: vec![]
        }]
    );
    // The next IN URB gets the queued report.
    d.handle_command(
        now,
        &submit(23, 1, Direction::In, 64, [0; 8]),
        &[],
        &mut out,
    )
    .unwrap();
    assert!(matches!(
        replies(&mut out, &[23])[0],
        Reply::Submit {
            seq: 23,
            status: 0,
            ..
        }
    ));
    // Unlink of a completed or unknown seqnum: status 0.
    d.handle_command(now, &unlink(24, 23), &[], &mut out)
        .unwrap();
    d.handle_command(now, &unlink(25, 999), &[], &mut out)
        .unwrap();
    assert_eq!(
        replies(&mut out, &[]),
        vec![
            Reply::Unlink { seq: 24, status: 0 },
            Reply::Unlink { seq: 25, status: 0 }
        ]
    );
}

#[test]
fn protocol_errors_and_stalls() {
    let mut d = device();
    let now = Instant::now();
    let mut out = Vec::new();
    let mut bad = submit(1, 1, Direction::In, 64, [0; 8]);
    if let UrbCommand::Submit(s) = &mut bad {
        s.devid = 0x0002_0002;
    }
    assert_eq!(
        d.handle_command(now, &bad, &[], &mut out),
        Err(DeviceError::WrongDevice(0x0002_0002))
    );
    for seq in 0..MAX_PENDING_IN as u32 {
        d.handle_command(
            now,
            &submit(seq, 1, Direction::In, 64, [0; 8]),
            &[],
            &mut out,
        )
        .unwrap();
    }
    assert_eq!(
        d.handle_command(
            now,
            &submit(99, 1, Direction::In, 64, [0; 8]),
            &[],
            &mut out
        ),
        Err(DeviceError::TooManyPendingIn)
    );
    assert!(out.is_empty());

    let mut d = device();
    d.handle_command(
        now,
        &submit(1, 1, Direction::Out, 65, [0; 8]),
        &[0; 65],
        &mut out,
    )
    .unwrap();
    d.handle_command(now, &submit(2, 3, Direction::In, 64, [0; 8]), &[], &mut out)
        .unwrap();
    d.handle_command(now, &submit(3, 1, Direction::In, 8, [0; 8]), &[], &mut out)
        .unwrap();
    assert_eq!(
        replies(&mut out, &[]),
        vec![
            Reply::Submit {
                seq: 1,
                status: -32,
                data: vec![]
            },
            Reply::Submit {
                seq: 2,
                status: -32,
                data: vec![]
            },
            Reply::Submit {
                seq: 3,
                status: -75,
                data: vec![]
            },
        ]
    );
}

#[test]
fn set_report_feeds_ctaphid_and_requests_surface_as_events() {
    let mut d = device();
    let now = Instant::now();
    let mut out = Vec::new();
    d.handle_command(
        now,
        &submit(1, 0, Direction::Out, 64, [0x21, 9, 0, 2, 0, 0, 64, 0]),
        &init_packet(9),
        &mut out,
    )
    .unwrap();
    assert_eq!(
        replies(&mut out, &[]),
        vec![Reply::Submit {
            seq: 1,
            status: 0,
            data: vec![]
        }]
    );
    assert!(d.ctaphid().has_transmit());
    d.handle_command(now, &submit(2, 1, Direction::In, 64, [0; 8]), &[], &mut out)
        .unwrap();
    let r = replies(&mut out, &[2]);
    let Reply::Submit { data, .. } = &r[0] else {
        panic!()
    };
    let cid = u32::from_be_bytes(data[15..19].try_into().unwrap());

    // A CBOR request on that channel becomes an event; the answer goes IN.
    let mut p = [0u8; 64];
    p[..4].copy_from_slice(&cid.to_be_bytes());
    p[4] = 0x90;
    p[6] = 1;
    p[7] = 0x04;
    d.handle_command(now, &submit(3, 1, Direction::Out, 64, [0; 8]), &p, &mut out)
        .unwrap();
    let Some(Event::Request(dispatch)) = d.poll_event() else {
        panic!()
    };
    assert_eq!(dispatch.request.payload, vec![0x04]);
    assert_eq!(d.poll_timeout(), Some(now + Duration::from_millis(50)));
    d.handle_command(now, &submit(4, 1, Direction::In, 64, [0; 8]), &[], &mut out)
        .unwrap();
    replies(&mut out, &[]);
    d.complete(dispatch.id, &[0x00, 0xA0], &mut out);
    let r = replies(&mut out, &[4]);
    let Reply::Submit { seq: 4, data, .. } = &r[0] else {
        panic!("{r:?}")
    };
    assert_eq!(&data[4..9], &[0x90, 0, 2, 0x00, 0xA0]);

    d.abort();
    assert_eq!(d.pending_in(), 0);
}
