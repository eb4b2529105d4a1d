//! `softkey serve --transport uhid`: the key as a Linux HID device made
//! through uhid (the kernel's `Documentation/hid/uhid.rst`), either through
//! the relay's socket ([`UhidDevice::relay`], the unprivileged way) or on
//! `/dev/uhid` itself ([`UhidDevice::direct`], for root).
//!
//! The same CTAPHID engine and worker as the USB/IP connection
//! (`crate::driver`): one thread reads reports (blocked in `poll` while
//! idle, with the engine's next timer as the timeout) and drives the engine,
//! a worker runs the [`MessageHandler`], and both send under one lock, so
//! reports leave in order. KEEPALIVE, CANCEL, channels and INIT behave as on
//! USB/IP (transport/README.md "CTAPHID rules").
//!
//! Power: the device is plugged in once, when it is created, and that is
//! the one power-up the handler hears of (`MessageHandler::attached`); a
//! program opening or closing the hidraw node (UHID_OPEN, UHID_CLOSE) is
//! not a power cycle, as it is not for a real key. Unplugging (the end of
//! `run`) is `MessageHandler::detached`.

use std::collections::VecDeque;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, RandomState};
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, poll};

use super::endpoint;
use super::event::{self, EVENT_SIZE};
use super::frames::{Framer, Pace};
use super::{timespec, write_event};
use crate::ctaphid::{
    CAPABILITY_CBOR, CAPABILITY_WINK, Ctaphid, CtaphidConfig, PACKET_SIZE, Packet, TransactionId,
};
use crate::driver::{self, JOB_QUEUE, Job};
use crate::handler::MessageHandler;
use crate::lock::lock;
use crate::usbip::descriptors::DeviceConfig;
use crate::wink::WinkSignal;

/// Reports sent back to back before pacing starts...
const SEND_BURST: u32 = 32;
/// ...then one per this long. hidraw keeps 64 reports per reader and drops
/// newer ones when a reader falls behind; a USB host polls the endpoint and
/// cannot fall behind. Pacing a long answer (up to 130 reports) keeps a
/// slow reader's queue short.
const SEND_INTERVAL: Duration = Duration::from_micros(500);
/// Bytes read from the relay at once: 16 reports.
const RELAY_READ: usize = 16 * PACKET_SIZE;
/// A relay that stops reading for this long ends the device.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// A uhid device for `softkey serve`, not yet created ([`UhidDevice::run`]
/// creates it).
#[derive(Debug)]
pub struct UhidDevice {
    port: Port,
    wake: UnixStream,
    stop: Arc<Stop>,
}

/// Stops a running [`UhidDevice`] from another thread (a signal).
#[derive(Debug, Clone)]
pub struct UhidShutdown {
    stop: Arc<Stop>,
}

#[derive(Debug)]
enum Port {
    /// The relay's socket: 64-byte reports both ways.
    Relay {
        stream: UnixStream,
        framer: Framer,
        read: VecDeque<Packet>,
    },
    /// `/dev/uhid`, opened by this process (non-blocking), and the reports
    /// read from it that the engine has not had yet.
    Direct { file: File, read: VecDeque<Packet> },
}

struct Stop {
    /// The request in flight is being cancelled; refuse any other.
    draining: AtomicBool,
    stopping: AtomicBool,
    wake: UnixStream,
    link: Mutex<Option<Arc<Mutex<Link>>>>,
}

impl fmt::Debug for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stop")
            .field("draining", &self.draining)
            .field("stopping", &self.stopping)
            .finish_non_exhaustive()
    }
}

/// What one wait for input brought.
enum Received {
    Report(Packet),
    /// The engine's timer is due.
    Timeout,
    /// Something that needs no engine (a partial frame, a kernel event).
    Nothing,
    /// The wake socket: [`UhidShutdown`] asked to stop, or the worker left
    /// reports for the reader to send at their pace.
    Woken,
}

impl UhidDevice {
    /// Connects to the relay at `socket`; the relay creates the device.
    pub fn relay(socket: &Path) -> io::Result<UhidDevice> {
        Self::relay_stream(UnixStream::connect(socket)?)
    }

    /// Opens the uhid device at `path` (normally `/dev/uhid`, which needs
    /// root); [`UhidDevice::run`] creates the device on it.
    pub fn direct(path: &Path) -> io::Result<UhidDevice> {
        if !super::event::LAYOUT_MATCHES_TARGET {
            return Err(super::event::unsupported_target());
        }
        Self::direct_file(OpenOptions::new().read(true).write(true).open(path)?)
    }

    /// A device over an already connected relay socket (tests, or a socket
    /// handed over by a service manager).
    pub fn relay_stream(stream: UnixStream) -> io::Result<UhidDevice> {
        stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        Self::new(Port::Relay {
            stream,
            framer: Framer::new(),
            read: VecDeque::new(),
        })
    }

    /// A device on an already open uhid file (tests use a socket pair that
    /// speaks uhid's events).
    pub fn direct_file(file: File) -> io::Result<UhidDevice> {
        rustix::io::ioctl_fionbio(&file, true)?;
        Self::new(Port::Direct {
            file,
            read: VecDeque::new(),
        })
    }

    fn new(port: Port) -> io::Result<UhidDevice> {
        let (wake, wake_tx) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        wake_tx.set_nonblocking(true)?;
        Ok(UhidDevice {
            port,
            wake,
            stop: Arc::new(Stop {
                draining: AtomicBool::new(false),
                stopping: AtomicBool::new(false),
                wake: wake_tx,
                link: Mutex::new(None),
            }),
        })
    }

    pub fn shutdown_handle(&self) -> UhidShutdown {
        UhidShutdown {
            stop: Arc::clone(&self.stop),
        }
    }

    /// Creates the device (on the relay: it already exists) and serves it
    /// with `handler` until [`UhidShutdown`] stops it or the device goes
    /// away (the relay closed the connection: an error). `device` gives
    /// the ids and the serial number of a direct device and the CTAPHID
    /// version of both; the relay's device is always the default one.
    pub fn run<H: MessageHandler>(mut self, device: &DeviceConfig, handler: H) -> io::Result<()> {
        if let Port::Direct { file, .. } = &self.port {
            let create = endpoint::create_event(device, "softkey", &device.serial);
            write_event(file, &create)?;
        }
        let handler: Arc<Mutex<dyn MessageHandler>> = Arc::new(Mutex::new(handler));
        let wink = Arc::new(WinkSignal::default());
        let winker = match lock(&handler).winker() {
            Some(show) => {
                let wink = Arc::clone(&wink);
                Some(
                    thread::Builder::new()
                        .name("uhid-wink".into())
                        .spawn(move || {
                            while wink.next() {
                                show();
                            }
                        })?,
                )
            }
            None => None,
        };
        let ctaphid = Ctaphid::new(CtaphidConfig {
            version: device.version,
            capabilities: if device.cbor {
                CAPABILITY_WINK | CAPABILITY_CBOR
            } else {
                CAPABILITY_WINK
            },
            first_cid: RandomState::new().hash_one(Instant::now()) as u32,
            ..CtaphidConfig::default()
        });
        let link = Arc::new(Mutex::new(Link {
            ctaphid,
            out: self.port.sender()?,
            pace: Pace::new(Instant::now(), SEND_BURST, SEND_INTERVAL),
            next_send: None,
            kick: self.stop.wake.try_clone()?,
            dead: false,
        }));
        *lock(&self.stop.link) = Some(Arc::clone(&link));
        let (jobs, job_rx) = mpsc::sync_channel(JOB_QUEUE);
        let worker = {
            let (link, handler, stop) = (Arc::clone(&link), handler, Arc::clone(&self.stop));
            thread::Builder::new()
                .name("uhid-worker".into())
                .spawn(move || {
                    driver::work(&job_rx, &*link, &*handler, &|| {
                        stop.draining.load(Ordering::SeqCst)
                    });
                })?
        };
        // Plugged in: the one power-up (module doc).
        let _ = jobs.send(Job::Attached);
        tracing::info!("uhid device created");

        let result = self.read_reports(&link, &jobs, &wink);

        {
            let mut l = lock(&link);
            l.ctaphid.abort();
            l.dead = true;
        }
        let _ = jobs.send(Job::Detached);
        drop(jobs);
        let _ = worker.join();
        wink.stop();
        if let Some(winker) = winker {
            let _ = winker.join();
        }
        if let Port::Direct { file, .. } = &self.port {
            let _ = write_event(file, &event::destroy());
        }
        tracing::info!("uhid device removed");
        result
    }

    fn read_reports(
        &mut self,
        link: &Mutex<Link>,
        jobs: &mpsc::SyncSender<Job>,
        wink: &WinkSignal,
    ) -> io::Result<()> {
        loop {
            if self.stop.stopping.load(Ordering::SeqCst) {
                return Ok(());
            }
            // The engine's timer or the next paced report, whichever is first: the reader
            // never sleeps with the lock held, so it takes a CANCEL while an answer goes out.
            let deadline = {
                let l = lock(link);
                match (l.ctaphid.poll_timeout(), l.next_send) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            };
            let received = self.port.receive(&self.wake, deadline)?;
            if let Received::Woken = received {
                self.drain_wake();
                if self.stop.stopping.load(Ordering::SeqCst) {
                    return Ok(());
                }
            }
            let now = Instant::now();
            let mut l = lock(link);
            match received {
                Received::Report(report) => l.ctaphid.handle_packet(now, &report),
                Received::Timeout => l.ctaphid.handle_timeout(now),
                Received::Nothing | Received::Woken => {}
            }
            l.pump(now);
            while let Some(event) = l.ctaphid.poll_event() {
                driver::forward(event, jobs, wink);
            }
            if l.dead {
                return Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "the device no longer takes reports",
                ));
            }
        }
    }
}

impl UhidDevice {
    /// Empties the wake socket, so that one wake-up is one return from `poll`.
    fn drain_wake(&self) {
        let mut buf = [0u8; 64];
        while matches!((&self.wake).read(&mut buf), Ok(n) if n > 0) {}
    }
}

impl UhidShutdown {
    /// Stops at once.
    pub fn shutdown(&self) {
        self.stop.stopping.store(true, Ordering::SeqCst);
        let _ = (&self.stop.wake).write(&[1]);
    }

    /// Cancels the request in flight (as CTAPHID_CANCEL would) and waits,
    /// at most `grace`, for its answer to be sent, then stops.
    pub fn shutdown_gracefully(&self, grace: Duration) {
        self.stop.draining.store(true, Ordering::SeqCst);
        let link = lock(&self.stop.link).clone();
        if let Some(link) = link {
            lock(&link).ctaphid.cancel_request();
            let until = Instant::now() + grace;
            while Instant::now() < until {
                let quiet = {
                    let l = lock(&link);
                    l.dead || (!l.ctaphid.is_busy() && !l.ctaphid.has_transmit())
                };
                if quiet {
                    break;
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
        self.shutdown();
    }

    pub fn is_shutdown(&self) -> bool {
        self.stop.stopping.load(Ordering::SeqCst)
    }
}

/// The engine and the way out, under the one lock.
struct Link {
    ctaphid: Ctaphid,
    out: Sender,
    pace: Pace,
    /// When the pace lets the next waiting report go (none waits).
    next_send: Option<Instant>,
    /// Wakes the reader, which sends what the pace held back.
    kick: UnixStream,
    dead: bool,
}

impl Link {
    /// Sends the reports the pace allows now, without waiting: the rest go when the reader's
    /// poll reaches [`Link::next_send`].
    fn pump(&mut self, now: Instant) {
        self.next_send = None;
        while self.ctaphid.has_transmit() {
            if self.dead {
                while self.ctaphid.poll_transmit().is_some() {}
                return;
            }
            if let Err(at) = self.pace.take(now) {
                self.next_send = Some(at);
                return;
            }
            let Some(report) = self.ctaphid.poll_transmit() else {
                return;
            };
            if let Err(e) = self.out.send(&report) {
                tracing::warn!(error = %e, "cannot send a report");
                self.dead = true;
            }
        }
    }
}

impl driver::Link for Link {
    fn complete(&mut self, id: TransactionId, response: &[u8]) {
        self.ctaphid.complete(id, response);
        self.pump(Instant::now());
        if self.next_send.is_some() {
            // A full socket already holds a wake-up; nothing is lost when this one is not sent.
            let _ = (&self.kick).write(&[0]);
        }
    }
}

/// The writing half of a [`Port`] (a second handle on the same socket or
/// file), so sending never waits for the reader.
enum Sender {
    Relay(UnixStream),
    Direct(File),
}

impl Sender {
    fn send(&self, report: &Packet) -> io::Result<()> {
        match self {
            Sender::Relay(stream) => (&*stream).write_all(report),
            Sender::Direct(file) => write_event(file, &event::input2(report)),
        }
    }
}

impl Port {
    fn sender(&self) -> io::Result<Sender> {
        Ok(match self {
            Port::Relay { stream, .. } => Sender::Relay(stream.try_clone()?),
            Port::Direct { file, .. } => Sender::Direct(file.try_clone()?),
        })
    }

    /// Waits for input until `deadline` (none: until something arrives).
    fn receive(&mut self, wake: &UnixStream, deadline: Option<Instant>) -> io::Result<Received> {
        let (Port::Relay { read, .. } | Port::Direct { read, .. }) = self;
        if let Some(report) = read.pop_front() {
            return Ok(Received::Report(report));
        }
        let ready = {
            let source: &dyn std::os::fd::AsFd = match &*self {
                Port::Relay { stream, .. } => stream,
                Port::Direct { file, .. } => file,
            };
            let mut fds = [
                PollFd::from_borrowed_fd(source.as_fd(), PollFlags::IN),
                PollFd::new(wake, PollFlags::IN),
            ];
            let timeout = deadline.map(|at| timespec(at.saturating_duration_since(Instant::now())));
            match poll(&mut fds, timeout.as_ref()) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => return Ok(Received::Nothing),
                Err(e) => return Err(e.into()),
            }
            let [source, wake] = &fds;
            if !wake.revents().is_empty() {
                return Ok(Received::Woken);
            }
            !source.revents().is_empty()
        };
        if !ready {
            return Ok(if deadline.is_some_and(|at| at <= Instant::now()) {
                Received::Timeout
            } else {
                Received::Nothing
            });
        }
        match self {
            Port::Relay {
                stream,
                framer,
                read,
            } => {
                // Several reports per read: a long message comes as 130.
                let mut buf = [0u8; RELAY_READ];
                let n = match (&*stream).read(&mut buf) {
                    Ok(0) => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the uhid relay closed the connection",
                        ));
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                        return Ok(Received::Nothing);
                    }
                    Err(e) => return Err(e),
                };
                framer.push(buf.get(..n).unwrap_or_default(), |r| read.push_back(*r));
                Ok(read.pop_front().map_or(Received::Nothing, Received::Report))
            }
            Port::Direct { file, read } => {
                let mut buf = vec![0u8; EVENT_SIZE];
                super::drain_uhid(file, &mut buf, |report| {
                    read.push_back(report);
                    Ok(())
                })?;
                Ok(read.pop_front().map_or(Received::Nothing, Received::Report))
            }
        }
    }
}
