//! Test-only fixtures: descriptor bytes and a scripted USB/IP server on loopback that
//! answers enumeration, keeps IN URBs pending, echoes every OUT report as an IN report,
//! and can be told to misbehave in the ways Linux punishes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// The YubiKey 5 report descriptor (transport/README.md "Report descriptor").
pub(crate) const FIDO_REPORT: [u8; 34] = [
    0x06, 0xD0, 0xF1, 0x09, 0x01, 0xA1, 0x01, 0x09, 0x20, 0x15, 0x00, 0x26, 0xFF, 0x00, 0x75, 0x08,
    0x95, 0x40, 0x81, 0x02, 0x09, 0x21, 0x15, 0x00, 0x26, 0xFF, 0x00, 0x75, 0x08, 0x95, 0x40, 0x91,
    0x02, 0xC0,
];

pub(crate) const DEVICE_DESC: [u8; 18] = [
    18, 1, 0x00, 0x02, 0, 0, 0, 64, 0x50, 0x10, 0x07, 0x04, 0x00, 0x01, 1, 2, 3, 1,
];

/// Configuration + HID interface + HID descriptor + EP 0x81 IN + EP 0x01 OUT (41 bytes).
pub(crate) fn config_bytes() -> Vec<u8> {
    let mut c = vec![0x09, 0x02, 41, 0, 1, 1, 0, 0x80, 50];
    c.extend_from_slice(&[0x09, 0x04, 0, 0, 2, 0x03, 0, 0, 0]);
    c.extend_from_slice(&[0x09, 0x21, 0x11, 0x01, 0x00, 0x01, 0x22, 0x22, 0x00]);
    c.extend_from_slice(&[0x07, 0x05, 0x81, 0x03, 0x40, 0x00, 0x05]);
    c.extend_from_slice(&[0x07, 0x05, 0x01, 0x03, 0x40, 0x00, 0x05]);
    c
}

fn string_desc(s: &str) -> Vec<u8> {
    let mut d = vec![0, 3];
    for u in s.encode_utf16() {
        d.extend_from_slice(&u.to_le_bytes());
    }
    d[0] = d.len() as u8;
    d
}

/// How the fake server misbehaves after an OUT report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Good,
    /// Also sends a RET_SUBMIT for a seqnum never submitted.
    UnknownSeq,
    /// Answers the OUT URB twice.
    DoubleAnswer,
    /// Completes the IN URB with 65 bytes.
    TooLong,
    /// Completes the IN URB with 0 bytes.
    EmptyIn,
    /// Answers an UNLINK with −104 and then completes the unlinked URB anyway.
    CompleteAfterUnlink,
    /// Completes every IN URB at once with 0 bytes (the busy loop of a naive server).
    EagerEmptyIn,
}

pub(crate) fn record(busid: &str) -> Vec<u8> {
    let mut r = vec![0u8; 0x138];
    r[..9].copy_from_slice(b"/sys/fake");
    r[256..256 + busid.len()].copy_from_slice(busid.as_bytes());
    r[0x120..0x124].copy_from_slice(&1u32.to_be_bytes());
    r[0x124..0x128].copy_from_slice(&2u32.to_be_bytes());
    r[0x128..0x12C].copy_from_slice(&2u32.to_be_bytes());
    r[0x12C..0x12E].copy_from_slice(&0x1050u16.to_be_bytes());
    r[0x12E..0x130].copy_from_slice(&0x0407u16.to_be_bytes());
    r[0x130..0x132].copy_from_slice(&0x0100u16.to_be_bytes());
    r[0x135] = 1;
    r[0x136] = 1;
    r[0x137] = 1;
    r
}

fn ret(seq: u32, cmd: u32, status: i32, actual: u32, data: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    for v in [
        cmd,
        seq,
        0,
        0,
        0,
        status as u32,
        actual,
        0,
        0xFFFF_FFFF,
        0,
        0,
        0,
    ] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

fn control_answer(setup: &[u8]) -> (i32, Vec<u8>) {
    let w_length = usize::from(u16::from_le_bytes([setup[6], setup[7]]));
    let data = match (setup[0], setup[1], setup[3], setup[2]) {
        (0x80, 0x06, 0x01, 0) => DEVICE_DESC.to_vec(),
        (0x80, 0x06, 0x02, 0) => config_bytes(),
        (0x80, 0x06, 0x03, 0) => vec![4, 3, 0x09, 0x04],
        (0x80, 0x06, 0x03, 1) => string_desc("Fake"),
        (0x80, 0x06, 0x03, 2) => string_desc("Fake Key"),
        (0x80, 0x06, 0x03, 3) => string_desc("0001"),
        (0x81, 0x06, 0x22, 0) => FIDO_REPORT.to_vec(),
        (0x80, 0x00, _, _) => vec![0, 0],
        (0x00, 0x09, _, _) | (0x21, 0x0A, _, _) => vec![],
        _ => return (-32, vec![]),
    };
    (0, data[..data.len().min(w_length)].to_vec())
}

/// CTAPHID INIT gets a 17-byte answer allocating CID 01020304; every other packet is
/// echoed, which makes PING (of any length) work.
fn ctaphid_answer(out: &[u8]) -> Vec<u8> {
    if out.get(4) != Some(&0x86) {
        return out.to_vec();
    }
    let mut r = vec![0u8; 64];
    r[..4].copy_from_slice(&out[..4]);
    r[4..7].copy_from_slice(&[0x86, 0, 17]);
    r[7..15].copy_from_slice(&out[7..15]);
    r[15..24].copy_from_slice(&[1, 2, 3, 4, 2, 1, 0, 0, 0x05]);
    r
}

/// A running fake server; `setups` logs every control setup packet it received.
pub(crate) struct FakeServer {
    pub addr: SocketAddr,
    pub setups: Arc<Mutex<Vec<[u8; 8]>>>,
}

/// Starts a fake server exporting one device "1-1"; a second concurrent IMPORT is refused.
pub(crate) fn start(mode: Mode) -> FakeServer {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let setups = Arc::new(Mutex::new(Vec::new()));
    let busy = Arc::new(Mutex::new(false));
    let log = setups.clone();
    thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(s) = s else { return };
            let (log, busy) = (log.clone(), busy.clone());
            thread::spawn(move || serve(s, mode, &log, &busy));
        }
    });
    FakeServer { addr, setups }
}

fn serve(mut s: TcpStream, mode: Mode, log: &Mutex<Vec<[u8; 8]>>, busy: &Mutex<bool>) {
    let mut op = [0u8; 8];
    if s.read_exact(&mut op).is_err() {
        return;
    }
    if op[2..4] == [0x80, 0x05] {
        let mut r = vec![0x01, 0x11, 0x00, 0x05, 0, 0, 0, 0, 0, 0, 0, 1];
        r.extend_from_slice(&record("1-1"));
        r.extend_from_slice(&[3, 0, 0, 0]);
        let _ = s.write_all(&r);
        return;
    }
    let mut busid = [0u8; 32];
    if s.read_exact(&mut busid).is_err() {
        return;
    }
    // Like a good device, give a detaching client's connection a moment to
    // end before refusing (a reattach may beat its EOF).
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
    let refused = busid[..4] != *b"1-1\0"
        || loop {
            if !std::mem::replace(&mut *busy.lock().unwrap(), true) {
                break false;
            }
            if std::time::Instant::now() >= deadline {
                break true;
            }
            thread::sleep(std::time::Duration::from_millis(5));
        };
    if refused {
        let _ = s.write_all(&[0x01, 0x11, 0x00, 0x03, 0, 0, 0, 1]);
        return;
    }
    let mut r = vec![0x01, 0x11, 0x00, 0x03, 0, 0, 0, 0];
    r.extend_from_slice(&record("1-1"));
    s.write_all(&r).unwrap();
    let _ = urb_loop(&mut s, mode, log);
    *busy.lock().unwrap() = false;
}

fn urb_loop(s: &mut TcpStream, mode: Mode, log: &Mutex<Vec<[u8; 8]>>) -> std::io::Result<()> {
    let mut pending_in: Option<u32> = None;
    let mut outq: std::collections::VecDeque<Vec<u8>> = std::collections::VecDeque::new();
    loop {
        let mut h = [0u8; 48];
        s.read_exact(&mut h)?;
        let (cmd, seq, dir, ep, len) = (
            be32(&h, 0),
            be32(&h, 4),
            be32(&h, 12),
            be32(&h, 16),
            be32(&h, 24),
        );
        if cmd == 2 {
            let target = be32(&h, 20);
            let status = if pending_in == Some(target) {
                pending_in = None;
                -104
            } else {
                0
            };
            s.write_all(&ret(seq, 4, status, 0, &[]))?;
            if mode == Mode::CompleteAfterUnlink && status == -104 {
                s.write_all(&ret(target, 3, 0, 64, &[0u8; 64]))?;
            }
            continue;
        }
        let mut data = vec![0u8; if dir == 0 { len as usize } else { 0 }];
        s.read_exact(&mut data)?;
        if ep == 0 {
            let setup: [u8; 8] = h[40..48].try_into().unwrap();
            log.lock().unwrap().push(setup);
            let (status, out) = control_answer(&setup);
            let actual = if dir == 1 { out.len() as u32 } else { 0 };
            s.write_all(&ret(
                seq,
                3,
                status,
                actual,
                if dir == 1 { &out } else { &[] },
            ))?;
        } else if dir == 1 && mode == Mode::EagerEmptyIn {
            s.write_all(&ret(seq, 3, 0, 0, &[]))?;
        } else if dir == 1 {
            pending_in = Some(seq);
        } else {
            s.write_all(&ret(seq, 3, 0, len, &[]))?;
            match mode {
                Mode::DoubleAnswer => s.write_all(&ret(seq, 3, 0, len, &[]))?,
                Mode::UnknownSeq => s.write_all(&ret(999, 3, 0, 0, &[]))?,
                _ => {}
            }
            outq.push_back(ctaphid_answer(&data));
        }
        // Reports wait in a queue until an IN URB is pending, as on a real device.
        if let Some(i) = pending_in.filter(|_| !outq.is_empty()) {
            pending_in = None;
            let report = outq.pop_front().unwrap();
            match mode {
                Mode::TooLong => {
                    let mut d = report;
                    d.push(0);
                    s.write_all(&ret(i, 3, 0, 65, &d))?;
                }
                Mode::EmptyIn => s.write_all(&ret(i, 3, 0, 0, &[]))?,
                _ => s.write_all(&ret(i, 3, 0, 64, &report))?,
            }
        }
    }
}
