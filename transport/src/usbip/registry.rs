//! What the accept loop, the connections and the shutdown handles share:
//! which connections are open and which are still opening (evicting the
//! oldest past [`MAX_OPENING`]), the exported devices
//! ([`super::exports`]), and what a graceful stop must wait for. A leaf below `server` and `connection`: a connection reaches the
//! registry, the registry reaches a connection only through [`StopLink`].

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::exports::ExportTable;
use crate::lock::lock;

/// Connections allowed in the DEVLIST/IMPORT phase at once. A host needs
/// one (`usbip list` and `usbip attach` are one connection each, briefly).
pub(crate) const MAX_OPENING: usize = 16;

/// What a graceful stop needs of a connection that imported the device.
pub(crate) trait StopLink: Send + Sync + fmt::Debug {
    /// Cancels the request in flight, as CTAPHID_CANCEL would.
    fn cancel_request(&self);
    /// Nothing in flight and every report read by the host (or the link is dead).
    fn is_quiet(&self) -> bool;
}

/// State shared by the accept loop, the connections and shutdown handles.
#[derive(Debug)]
pub(crate) struct Registry {
    stop: AtomicBool,
    /// Set by a graceful stop: requests not yet started are refused.
    draining: AtomicBool,
    wake_addr: SocketAddr,
    conns: Mutex<HashMap<u64, Arc<TcpStream>>>,
    /// Connections still in the DEVLIST/IMPORT phase, oldest first.
    opening: Mutex<VecDeque<u64>>,
    /// The devices hosts may import.
    pub(crate) exports: ExportTable,
    /// Connections that imported a device, for a graceful stop.
    links: Mutex<HashMap<u64, Arc<dyn StopLink>>>,
}

impl Registry {
    /// A registry for a server whose own connection to `wake_addr` unblocks
    /// its accept loop at shutdown.
    pub(crate) fn new(wake_addr: SocketAddr) -> Self {
        Registry {
            stop: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            wake_addr,
            conns: Mutex::new(HashMap::new()),
            opening: Mutex::new(VecDeque::new()),
            exports: ExportTable::default(),
            links: Mutex::new(HashMap::new()),
        }
    }

    /// Where a shutting-down server connects to wake its accept loop.
    pub(crate) fn wake_addr(&self) -> SocketAddr {
        self.wake_addr
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Tracks a connection so shutdown can close it, as one in the opening
    /// phase; evicts the oldest opening one when [`MAX_OPENING`] are open.
    /// False once stopping.
    pub(crate) fn register(&self, id: u64, stream: &Arc<TcpStream>) -> bool {
        let mut conns = lock(&self.conns);
        if self.stopping() {
            return false;
        }
        conns.insert(id, Arc::clone(stream));
        let mut opening = lock(&self.opening);
        while opening.len() >= MAX_OPENING {
            let Some(oldest) = opening.pop_front() else {
                break;
            };
            if let Some(s) = conns.get(&oldest) {
                tracing::debug!(id = oldest, "evicted: too many connections opening at once");
                let _ = s.shutdown(Shutdown::Both);
            }
        }
        opening.push_back(id);
        true
    }

    /// The connection left the opening phase (imported, or done).
    pub(crate) fn opened(&self, id: u64) {
        lock(&self.opening).retain(|&o| o != id);
    }

    pub(crate) fn forget(&self, id: u64) {
        self.opened(id);
        lock(&self.conns).remove(&id);
        lock(&self.links).remove(&id);
    }

    pub(crate) fn track_link(&self, id: u64, link: Arc<dyn StopLink>) {
        lock(&self.links).insert(id, link);
    }

    pub(crate) fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Cancels every request in flight and waits, at most `grace`, until
    /// their answers have been read by the hosts.
    pub(crate) fn drain(&self, grace: Duration) {
        self.draining.store(true, Ordering::SeqCst);
        let links: Vec<Arc<dyn StopLink>> = lock(&self.links).values().cloned().collect();
        for link in &links {
            link.cancel_request();
        }
        let deadline = Instant::now() + grace;
        while !links.iter().all(|link| link.is_quiet()) {
            if Instant::now() >= deadline {
                tracing::warn!("stopping with a request still in flight");
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        if !links.is_empty() {
            // The last reports are in the socket buffers; give the hosts a
            // moment to read them before the connections close.
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Closes one connection (its device was removed: an unplug).
    pub(crate) fn close(&self, id: u64) {
        if let Some(stream) = lock(&self.conns).get(&id) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    pub(crate) fn close_all(&self) {
        self.stop.store(true, Ordering::SeqCst);
        for export in self.exports.drain_all() {
            export.end();
        }
        for stream in lock(&self.conns).values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}
