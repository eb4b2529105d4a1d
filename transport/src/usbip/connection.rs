//! One USB/IP client connection: the operation phase (DEVLIST / IMPORT) and,
//! once imported, the URB phase driven by two threads.
//!
//! - The connection thread reads the socket and drives the [`Device`]
//!   (and its CTAPHID state) itself, so a PING or INIT is answered without a
//!   thread hop. Its socket read timeout is the next CTAPHID timer, set only
//!   while one is pending: an idle device blocks in `read` at zero CPU.
//! - A worker thread runs [`MessageHandler::handle`], which may block for
//!   user presence, and writes the answer itself.
//!
//! Both write under the same mutex as the device state, so replies leave in
//! the order the device produced them. Interrupt-IN URBs stay pending in the
//! device until a report exists (no busy loop).
//!
//! Bounds: the operation phase has one total deadline ([`OP_DEADLINE`]), not
//! one per read, so a client trickling a byte at a time is dropped all the
//! same. The worker's queue is bounded (at most one request is in flight,
//! plus attach and detach); WINKs do not go through it at all (they raise
//! the server's merged wink signal). An imported connection gets TCP
//! keepalive, so a host that vanished (suspend, crash, unplugged network)
//! frees the device.

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::codec::{
    self, BUSID_LEN, CodecError, MAX_TRANSFER_LEN, OP_HEADER_LEN, OpRequest, URB_HEADER_LEN,
};
use super::device::{Device, DeviceError};
use super::exports::{AttachGuard, Export};
use super::registry::{Registry, StopLink};
use crate::ctaphid::{CAPABILITY_CBOR, CAPABILITY_WINK, Ctaphid, CtaphidConfig, TransactionId};
use crate::driver::{self, JOB_QUEUE, Job};
use crate::lock::lock;
use crate::wink::WinkSignal;

/// The whole operation phase (a DEVLIST or IMPORT request, 8 or 40 bytes)
/// must arrive within this long after the connection was accepted.
const OP_DEADLINE: Duration = Duration::from_secs(10);
/// TCP keepalive on an imported connection: first probe after this much
/// silence, then every [`KEEPALIVE_INTERVAL`], [`KEEPALIVE_PROBES`] times,
/// before the kernel calls the host gone (about 100 s in all).
const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_PROBES: u32 = 4;
/// A client that stops reading is dropped after this long.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a connection ended early.
#[derive(Debug)]
enum ConnError {
    Io(io::Error),
    Codec(CodecError),
    Device(DeviceError),
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "i/o: {e}"),
            Self::Codec(e) => write!(f, "protocol: {e}"),
            Self::Device(e) => write!(f, "protocol: {e}"),
        }
    }
}

impl From<io::Error> for ConnError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<CodecError> for ConnError {
    fn from(e: CodecError) -> Self {
        Self::Codec(e)
    }
}

impl From<DeviceError> for ConnError {
    fn from(e: DeviceError) -> Self {
        Self::Device(e)
    }
}

/// Device state and the socket (for writing), under one lock.
struct Link {
    device: Device,
    writer: Arc<TcpStream>,
    out: Vec<u8>,
    dead: bool,
}

impl Link {
    /// Writes everything produced so far; a failed write ends the connection.
    fn flush(&mut self) {
        if !self.out.is_empty()
            && !self.dead
            && let Err(e) = (&*self.writer).write_all(&self.out)
        {
            tracing::debug!(error = %e, "write failed, closing");
            self.dead = true;
            let _ = self.writer.shutdown(Shutdown::Both);
        }
        self.out.clear();
    }

    fn forward_events(&mut self, jobs: &SyncSender<Job>, wink: &WinkSignal) {
        while let Some(event) = self.device.poll_event() {
            driver::forward(event, jobs, wink);
        }
    }
}

impl driver::Link for Link {
    fn complete(&mut self, id: TransactionId, response: &[u8]) {
        let Link { device, out, .. } = self;
        device.complete(id, response, out);
        self.flush();
    }
}

/// A server-side view of one imported connection, for a graceful stop.
#[derive(Clone)]
pub(crate) struct LinkHandle(Arc<Mutex<Link>>);

impl StopLink for LinkHandle {
    fn cancel_request(&self) {
        lock(&self.0).device.cancel_request();
    }

    fn is_quiet(&self) -> bool {
        let l = lock(&self.0);
        l.dead || l.device.is_quiet()
    }
}

impl fmt::Debug for LinkHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkHandle").finish_non_exhaustive()
    }
}

/// Serves one accepted connection to its end.
pub(crate) fn serve(id: u64, stream: Arc<TcpStream>, registry: &Arc<Registry>) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(id, error = %e, "TCP_NODELAY failed");
    }
    match serve_ops(id, stream, registry) {
        Ok(()) => tracing::debug!(id, "connection closed"),
        Err(e) => tracing::debug!(id, error = %e, "connection closed"),
    }
    registry.forget(id);
}

/// CTAP-free first phase: OP_REQ_DEVLIST or OP_REQ_IMPORT, all within
/// [`OP_DEADLINE`] of the accept.
fn serve_ops(id: u64, stream: Arc<TcpStream>, registry: &Arc<Registry>) -> Result<(), ConnError> {
    let deadline = Instant::now() + OP_DEADLINE;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let mut header = [0u8; OP_HEADER_LEN];
    read_exact_by(&stream, &mut header, deadline)?;
    let mut reply = Vec::new();
    match codec::parse_op_header(&header)? {
        OpRequest::DevList => {
            tracing::debug!(id, "devlist");
            codec::encode_devlist_reply(&mut reply, &registry.exports.records());
            (&*stream).write_all(&reply)?;
            Ok(())
        }
        OpRequest::Import => {
            let mut busid = [0u8; BUSID_LEN];
            read_exact_by(&stream, &mut busid, deadline)?;
            let export = registry.exports.get(codec::parse_busid(&busid));
            let attached = match &export {
                Some(export) => export
                    .try_attach(id)
                    .map(|guard| (Arc::clone(export), guard)),
                None => {
                    tracing::debug!(id, "import of an unknown bus id");
                    None
                }
            };
            let Some((export, guard)) = attached else {
                codec::encode_import_reply(&mut reply, None);
                (&*stream).write_all(&reply)?;
                return Ok(());
            };
            codec::encode_import_reply(&mut reply, Some(&export.record));
            (&*stream).write_all(&reply)?;
            tracing::debug!(id, bus_id = %export.device.bus_id, "device imported");
            registry.opened(id);
            serve_urbs(id, stream, registry, &export, guard)
        }
    }
}

/// `read_exact` that gives up at `deadline`, however the bytes trickle in.
fn read_exact_by(stream: &TcpStream, mut buf: &mut [u8], deadline: Instant) -> io::Result<()> {
    while !buf.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the USB/IP request did not arrive in time",
            ));
        }
        stream.set_read_timeout(Some(left))?;
        match (&*stream).read(buf) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => buf = buf.get_mut(n..).unwrap_or_default(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// TCP keepalive, so the device is freed when its host vanishes.
fn keep_alive(stream: &TcpStream) -> io::Result<()> {
    use rustix::net::sockopt;
    sockopt::set_socket_keepalive(stream, true)?;
    sockopt::set_tcp_keepidle(stream, KEEPALIVE_IDLE)?;
    sockopt::set_tcp_keepintvl(stream, KEEPALIVE_INTERVAL)?;
    sockopt::set_tcp_keepcnt(stream, KEEPALIVE_PROBES)?;
    Ok(())
}

/// Second phase: URBs until the client goes away.
fn serve_urbs(
    id: u64,
    stream: Arc<TcpStream>,
    registry: &Arc<Registry>,
    export: &Export,
    attachment: AttachGuard,
) -> Result<(), ConnError> {
    stream.set_read_timeout(None)?;
    if let Err(e) = keep_alive(&stream) {
        tracing::debug!(id, error = %e, "TCP keepalive could not be set");
    }
    let ctaphid = Ctaphid::new(CtaphidConfig {
        version: export.device.version,
        capabilities: if export.device.cbor {
            CAPABILITY_WINK | CAPABILITY_CBOR
        } else {
            CAPABILITY_WINK
        },
        // Fresh channel ids per attach, so stale host handles do not collide.
        first_cid: RandomState::new().hash_one(id) as u32,
        ..CtaphidConfig::default()
    });
    let link = Arc::new(Mutex::new(Link {
        device: Device::new(&export.device, ctaphid),
        writer: Arc::clone(&stream),
        out: Vec::with_capacity(4096),
        dead: false,
    }));
    let (jobs, job_rx) = mpsc::sync_channel(JOB_QUEUE);
    let worker_link = Arc::clone(&link);
    let handler = Arc::clone(&export.handler);
    let worker_registry = Arc::clone(registry);
    let worker = thread::Builder::new()
        .name(format!("usbip-worker-{id}"))
        .spawn(move || {
            driver::work(&job_rx, &*worker_link, &*handler, &|| {
                worker_registry.draining()
            });
        })?;
    let _ = jobs.send(Job::Attached);
    registry.track_link(id, Arc::new(LinkHandle(Arc::clone(&link))));

    let result = read_urbs(&stream, &link, &jobs, &export.wink);

    // The client is gone (or broke the protocol): cancel its request and
    // forget its URBs. The worker ends after its current job; it is not
    // joined so a slow handler cannot hold up the server.
    {
        let mut l = lock(&link);
        l.device.abort();
        l.dead = true;
    }
    // Queued after the (now cancelled) last request, so the handler hears of
    // the detach once it is done with this host.
    let _ = jobs.send(Job::Detached);
    drop(jobs);
    // Free the device before the client can see the close, so that an
    // IMPORT it sends right after the EOF finds the device free.
    drop(attachment);
    let _ = stream.shutdown(Shutdown::Both);
    if registry.stopping() {
        // A stopping server waits for its handler, so that whatever the
        // handler owns (the key's store) is dropped before `run` returns.
        let _ = worker.join();
    }
    result
}

/// The connection thread's loop: read, frame, drive the device, fire timers.
fn read_urbs(
    stream: &TcpStream,
    link: &Mutex<Link>,
    jobs: &SyncSender<Job>,
    wink: &WinkSignal,
) -> Result<(), ConnError> {
    // Allocated once: the largest frame the codec accepts fits.
    let mut buf = vec![0u8; URB_HEADER_LEN + MAX_TRANSFER_LEN as usize];
    let mut filled = 0usize;
    let mut deadline: Option<Instant> = None;
    let mut timeout_set = false;
    let mut reader = stream;
    loop {
        // Block indefinitely unless a CTAPHID timer is pending.
        match deadline {
            Some(at) => {
                let wait = at.saturating_duration_since(Instant::now());
                stream.set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
                timeout_set = true;
            }
            None if timeout_set => {
                stream.set_read_timeout(None)?;
                timeout_set = false;
            }
            None => {}
        }
        let space = buf.get_mut(filled..).unwrap_or_default();
        if space.is_empty() {
            // Unreachable: a full buffer always holds a complete frame.
            return Err(ConnError::Codec(CodecError::Truncated));
        }
        let read = reader.read(space);
        let now = Instant::now();
        let mut l = lock(link);
        let l = &mut *l;
        let step = match read {
            Ok(0) => return Ok(()),
            Ok(n) => {
                filled += n;
                let (consumed, result) = drive(now, buf.get(..filled).unwrap_or_default(), l);
                buf.copy_within(consumed..filled, 0);
                filled -= consumed;
                result
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                let Link { device, out, .. } = l;
                device.handle_timeout(now, out);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => return Err(e.into()),
        };
        // Send what was produced, even before a protocol error closes us.
        l.flush();
        l.forward_events(jobs, wink);
        step?;
        if l.dead {
            return Ok(());
        }
        deadline = l.device.poll_timeout();
    }
}

/// Handles every complete frame in `bytes`; returns how many bytes it used.
fn drive(now: Instant, bytes: &[u8], l: &mut Link) -> (usize, Result<(), ConnError>) {
    let mut start = 0;
    loop {
        let rest = bytes.get(start..).unwrap_or_default();
        match codec::decode_urb(rest) {
            Ok(Some((cmd, len))) => {
                let data = rest.get(URB_HEADER_LEN..len).unwrap_or_default();
                if let Err(e) = l.device.handle_command(now, &cmd, data, &mut l.out) {
                    return (start, Err(e.into()));
                }
                start += len;
            }
            Ok(None) => return (start, Ok(())),
            Err(e) => return (start, Err(e.into())),
        }
    }
}
