//! A raw USB/IP client written byte by byte (independent of the crate's
//! codec), a CTAPHID host on top that keeps an interrupt-IN URB outstanding
//! like Linux usbhid, and a small test handler.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use softkey_transport::{
    DeviceConfig, KeepaliveStatus, MessageHandler, PeerPolicy, Refusal, Request, RequestKind,
    Server, ServerConfig, ShutdownHandle, Signals, Winker,
};

pub const DEVID: u32 = (1 << 16) | 2;
pub const BROADCAST: u32 = 0xFFFF_FFFF;
pub const SLOW: u8 = 0x42;

// ---------------------------------------------------------------- handler

#[derive(Clone, Default)]
pub struct Probe {
    pub attached: Arc<AtomicUsize>,
    pub cancelled: Arc<AtomicUsize>,
    pub winks: Arc<AtomicUsize>,
    /// How long showing one wink takes (a slow terminal), in ms.
    pub wink_ms: Arc<AtomicUsize>,
}

pub struct TestHandler(pub Probe);

impl MessageHandler for TestHandler {
    fn handle(&mut self, request: Request, signals: &Signals) -> Vec<u8> {
        match (request.kind, request.payload.first()) {
            (RequestKind::Cbor, Some(&SLOW)) => {
                // Processing for a while, then "touch your key" until cancelled.
                if !signals.wait_cancelled(Duration::from_millis(150)) {
                    signals.set_status(KeepaliveStatus::UpNeeded);
                    if !signals.wait_cancelled(Duration::from_secs(20)) {
                        return vec![0x00];
                    }
                }
                self.0.cancelled.fetch_add(1, Ordering::SeqCst);
                vec![0x2D]
            }
            (RequestKind::Cbor, _) => {
                let mut r = vec![0x00];
                r.extend_from_slice(&request.payload);
                r
            }
            (RequestKind::Msg, _) => {
                let mut r = request.payload.clone();
                r.extend_from_slice(&[0x90, 0x00]);
                r
            }
        }
    }

    fn refusal(&self, kind: RequestKind, why: Refusal) -> Vec<u8> {
        match (kind, why) {
            (RequestKind::Cbor, Refusal::Cancelled) => vec![0x2D],
            (RequestKind::Cbor, Refusal::Failed) => vec![0x7F],
            (RequestKind::Msg, Refusal::Cancelled) => vec![0x69, 0x85],
            (RequestKind::Msg, Refusal::Failed) => vec![0x6F, 0x00],
        }
    }

    fn attached(&mut self) {
        self.0.attached.fetch_add(1, Ordering::SeqCst);
    }

    fn winker(&self) -> Option<Winker> {
        let winks = Arc::clone(&self.0.winks);
        let wink_ms = Arc::clone(&self.0.wink_ms);
        Some(Box::new(move || {
            thread::sleep(Duration::from_millis(wink_ms.load(Ordering::SeqCst) as u64));
            winks.fetch_add(1, Ordering::SeqCst);
        }))
    }
}

pub struct Running {
    pub addr: SocketAddr,
    pub stop: ShutdownHandle,
    pub thread: Option<JoinHandle<std::io::Result<()>>>,
    pub probe: Probe,
}

impl Running {
    pub fn start() -> Self {
        Self::start_with(PeerPolicy::Anyone)
    }

    /// A server whose attach gate admits only these policies' peers.
    pub fn start_with(peers: PeerPolicy) -> Self {
        let server = Server::bind(ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            device: DeviceConfig::new("TEST0001"),
            peers,
        })
        .unwrap();
        let probe = Probe::default();
        let handler = TestHandler(probe.clone());
        Running {
            addr: server.local_addr(),
            stop: server.shutdown_handle(),
            thread: Some(thread::spawn(move || server.run(handler))),
            probe,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.shutdown();
        if let Some(t) = self.thread.take() {
            t.join().unwrap().unwrap();
        }
    }
}

// ---------------------------------------------------------------- USB/IP

#[derive(Debug)]
pub enum Reply {
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

pub struct Usbip {
    pub s: TcpStream,
    pub seq: u32,
    pub is_in: HashMap<u32, bool>,
    /// `busnum << 16 | devnum` of the imported device, for URB headers.
    pub devid: u32,
}

pub fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

pub fn op_request(code: u16, busid: Option<&str>) -> Vec<u8> {
    let mut m = vec![0x01, 0x11];
    m.extend_from_slice(&code.to_be_bytes());
    m.extend_from_slice(&[0; 4]);
    if let Some(b) = busid {
        let mut f = [0u8; 32];
        f[..b.len()].copy_from_slice(b.as_bytes());
        m.extend_from_slice(&f);
    }
    m
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Whether the server closes `s` (EOF or reset) within two seconds.
pub fn closes(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut b = [0u8; 256];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

pub fn devlist(addr: SocketAddr) -> Vec<u8> {
    let mut s = connect(addr);
    s.write_all(&op_request(0x8005, None)).unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    reply
}

impl Usbip {
    /// OP_REQ_IMPORT; returns the connection and the reply status.
    pub fn import(addr: SocketAddr, busid: &str) -> (Usbip, u32) {
        let mut s = connect(addr);
        s.write_all(&op_request(0x8003, Some(busid))).unwrap();
        let mut h = [0u8; 8];
        s.read_exact(&mut h).unwrap();
        assert_eq!(&h[..4], &[0x01, 0x11, 0x00, 0x03]);
        let status = be32(&h, 4);
        let mut devid = DEVID;
        if status == 0 {
            let mut rec = [0u8; 0x138];
            s.read_exact(&mut rec).unwrap();
            let mut name = busid.as_bytes().to_vec();
            name.push(0);
            assert_eq!(&rec[256..256 + name.len()], name.as_slice());
            // Offsets within the 0x138-byte record (message offset − 8).
            let (busnum, devnum) = (be32(&rec, 0x120), be32(&rec, 0x124));
            if busid == "1-1" {
                assert_eq!((busnum, devnum), (1, 2), "busnum, devnum");
            }
            devid = (busnum << 16) | devnum;
            assert_eq!(be32(&rec, 0x128), 2, "full speed");
            assert_eq!(&rec[0x12C..0x130], &[0x12, 0x09, 0x00, 0x0A]);
            assert_eq!(rec[0x137], 1, "bNumInterfaces");
        }
        (
            Usbip {
                s,
                seq: 0,
                is_in: HashMap::new(),
                devid,
            },
            status,
        )
    }

    pub fn attach(addr: SocketAddr) -> Usbip {
        let (u, status) = Usbip::import(addr, "1-1");
        assert_eq!(status, 0);
        u
    }

    pub fn submit(&mut self, ep: u32, is_in: bool, len: u32, setup: [u8; 8], data: &[u8]) -> u32 {
        self.seq += 1;
        let mut m = Vec::new();
        for v in [1, self.seq, self.devid, is_in as u32, ep, 0, len, 0, 0, 0] {
            m.extend_from_slice(&u32::to_be_bytes(v));
        }
        m.extend_from_slice(&setup);
        m.extend_from_slice(data);
        self.s.write_all(&m).unwrap();
        self.is_in.insert(self.seq, is_in);
        self.seq
    }

    pub fn unlink(&mut self, target: u32) -> u32 {
        self.seq += 1;
        let mut m = Vec::new();
        for v in [2, self.seq, self.devid, 0, 0, target] {
            m.extend_from_slice(&u32::to_be_bytes(v));
        }
        m.extend_from_slice(&[0; 24]);
        self.s.write_all(&m).unwrap();
        self.seq
    }

    pub fn reply(&mut self) -> Reply {
        let mut h = [0u8; 48];
        self.s.read_exact(&mut h).unwrap();
        let (cmd, seq, status) = (be32(&h, 0), be32(&h, 4), be32(&h, 0x14) as i32);
        assert_eq!(&h[8..0x14], &[0; 12], "devid, direction, ep are 0");
        match cmd {
            3 => {
                let actual = be32(&h, 0x18) as usize;
                let is_in = self
                    .is_in
                    .remove(&seq)
                    .expect("RET_SUBMIT for an unknown seqnum");
                let mut data = vec![0u8; if is_in { actual } else { 0 }];
                self.s.read_exact(&mut data).unwrap();
                Reply::Submit { seq, status, data }
            }
            4 => Reply::Unlink { seq, status },
            other => panic!("unexpected reply command {other}"),
        }
    }

    pub fn control_in(&mut self, setup: [u8; 8], len: u32) -> (i32, Vec<u8>) {
        let seq = self.submit(0, true, len, setup, &[]);
        match self.reply() {
            Reply::Submit {
                seq: s,
                status,
                data,
            } if s == seq => (status, data),
            other => panic!("{other:?}"),
        }
    }

    pub fn control_out(&mut self, setup: [u8; 8]) -> i32 {
        let seq = self.submit(0, false, 0, setup, &[]);
        match self.reply() {
            Reply::Submit { seq: s, status, .. } if s == seq => status,
            other => panic!("{other:?}"),
        }
    }

    /// True if nothing at all arrives for `d`.
    pub fn quiet_for(&mut self, d: Duration) -> bool {
        self.s.set_read_timeout(Some(d)).unwrap();
        let mut b = [0u8; 1];
        let r = self.s.peek(&mut b);
        self.s
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        matches!(r, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut))
    }
}

// ---------------------------------------------------------------- CTAPHID

/// A HID host: one interrupt-IN URB always outstanding.
pub struct Hid {
    pub u: Usbip,
    pub in_seq: u32,
}

pub struct Message {
    pub cid: u32,
    pub cmd: u8,
    pub payload: Vec<u8>,
}

impl Hid {
    pub fn new(mut u: Usbip) -> Self {
        let in_seq = u.submit(1, true, 64, [0; 8], &[]);
        Hid { u, in_seq }
    }

    pub fn send_packet(&mut self, p: &[u8; 64]) {
        self.u.submit(1, false, 64, [0; 8], p);
    }

    pub fn recv_packet(&mut self) -> [u8; 64] {
        loop {
            match self.u.reply() {
                Reply::Submit { seq, status, data } if seq == self.in_seq => {
                    assert_eq!(status, 0);
                    self.in_seq = self.u.submit(1, true, 64, [0; 8], &[]);
                    return data.try_into().expect("64-byte report");
                }
                Reply::Submit { status: 0, .. } => {} // an OUT completion
                other => panic!("{other:?}"),
            }
        }
    }

    pub fn send(&mut self, cid: u32, cmd: u8, payload: &[u8]) {
        let mut p = [0u8; 64];
        p[..4].copy_from_slice(&cid.to_be_bytes());
        p[4] = cmd | 0x80;
        p[5..7].copy_from_slice(&(payload.len() as u16).to_be_bytes());
        let n = payload.len().min(57);
        p[7..7 + n].copy_from_slice(&payload[..n]);
        self.send_packet(&p);
        for (seq, chunk) in payload[n..].chunks(59).enumerate() {
            let mut p = [0u8; 64];
            p[..4].copy_from_slice(&cid.to_be_bytes());
            p[4] = seq as u8;
            p[5..5 + chunk.len()].copy_from_slice(chunk);
            self.send_packet(&p);
        }
    }

    pub fn recv(&mut self) -> Message {
        let p = self.recv_packet();
        assert!(p[4] & 0x80 != 0, "expected an init packet");
        let len = u16::from_be_bytes([p[5], p[6]]) as usize;
        let mut payload = p[7..7 + len.min(57)].to_vec();
        let mut seq = 0;
        while payload.len() < len {
            let c = self.recv_packet();
            assert_eq!(c[4], seq);
            let n = (len - payload.len()).min(59);
            payload.extend_from_slice(&c[5..5 + n]);
            seq += 1;
        }
        Message {
            cid: u32::from_be_bytes(p[..4].try_into().unwrap()),
            cmd: p[4] & 0x7F,
            payload,
        }
    }

    pub fn init(&mut self) -> u32 {
        let nonce = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
        self.send(BROADCAST, 0x06, &nonce);
        let m = self.recv();
        assert_eq!((m.cid, m.cmd), (BROADCAST, 0x06));
        assert_eq!(m.payload.len(), 17);
        assert_eq!(&m.payload[..8], &nonce);
        assert_eq!(m.payload[12], 2);
        assert_eq!(m.payload[16] & 0x08, 0, "no NMSG");
        u32::from_be_bytes(m.payload[8..12].try_into().unwrap())
    }

    pub fn ping(&mut self, cid: u32, payload: &[u8]) {
        self.send(cid, 0x01, payload);
        let m = self.recv();
        assert_eq!((m.cid, m.cmd), (cid, 0x01));
        assert_eq!(m.payload, payload);
    }
}
