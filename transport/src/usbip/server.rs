//! The USB/IP TCP server: accepts connections, hands each to its own thread
//! ([`super::connection`]), lets at most one of them import the device, and
//! stops on [`ShutdownHandle::shutdown`].
//!
//! Blocking std I/O, no async runtime: a thread per connection costs nothing
//! for the one or two clients a security key has, and blocking reads keep an
//! idle attached device at zero CPU.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::connection::{self, LinkHandle};
use super::descriptors::DeviceConfig;
use crate::handler::MessageHandler;

/// Where to listen and what device to export.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub device: DeviceConfig,
}

/// A bound USB/IP server; [`Server::run`] serves it.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    device: DeviceConfig,
    registry: Arc<Registry>,
}

/// Stops a running [`Server`] from any thread.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    registry: Arc<Registry>,
}

/// State shared by the accept loop, the connections and shutdown handles.
#[derive(Debug)]
pub(crate) struct Registry {
    stop: AtomicBool,
    /// Set by a graceful stop: requests not yet started are refused.
    draining: AtomicBool,
    wake_addr: SocketAddr,
    conns: Mutex<HashMap<u64, TcpStream>>,
    /// Connections that imported the device, for a graceful stop.
    links: Mutex<HashMap<u64, LinkHandle>>,
    attached: Mutex<Option<u64>>,
    /// Signalled when the device is detached.
    detached: Condvar,
}

/// How long an IMPORT waits for a detaching client's connection to end
/// before it is refused. `usbip detach` closes the socket and an immediate
/// `usbip attach` can arrive before our reader has seen the EOF; the host
/// must not be refused for that race (attach works the first time).
const DETACH_GRACE: Duration = Duration::from_millis(500);

/// Marks the device attached by one connection until dropped.
#[derive(Debug)]
pub(crate) struct AttachGuard {
    registry: Arc<Registry>,
    id: u64,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take the server down with it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Registry {
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Tracks a connection so shutdown can close it; false once stopping.
    fn register(&self, id: u64, stream: &TcpStream) -> bool {
        let mut conns = lock(&self.conns);
        if self.stopping() {
            return false;
        }
        match stream.try_clone() {
            Ok(clone) => {
                conns.insert(id, clone);
                true
            }
            Err(e) => {
                tracing::debug!(id, error = %e, "cannot track connection");
                false
            }
        }
    }

    pub(crate) fn forget(&self, id: u64) {
        lock(&self.conns).remove(&id);
        lock(&self.links).remove(&id);
    }

    pub(crate) fn track_link(&self, id: u64, link: LinkHandle) {
        lock(&self.links).insert(id, link);
    }

    pub(crate) fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Cancels every request in flight and waits, at most `grace`, until
    /// their answers have been read by the hosts.
    fn drain(&self, grace: Duration) {
        self.draining.store(true, Ordering::SeqCst);
        let links: Vec<LinkHandle> = lock(&self.links).values().cloned().collect();
        for link in &links {
            link.cancel_request();
        }
        let deadline = Instant::now() + grace;
        while !links.iter().all(LinkHandle::is_quiet) {
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

    /// Attaches the device to connection `id` unless another one holds it
    /// for longer than [`DETACH_GRACE`].
    pub(crate) fn try_attach(self: &Arc<Self>, id: u64) -> Option<AttachGuard> {
        let attached = lock(&self.attached);
        let (mut attached, _) = self
            .detached
            .wait_timeout_while(attached, DETACH_GRACE, |a| a.is_some())
            .unwrap_or_else(|e| e.into_inner());
        match *attached {
            Some(other) => {
                tracing::debug!(id, other, "import refused: device attached elsewhere");
                None
            }
            None => {
                *attached = Some(id);
                Some(AttachGuard {
                    registry: Arc::clone(self),
                    id,
                })
            }
        }
    }

    fn close_all(&self) {
        self.stop.store(true, Ordering::SeqCst);
        for stream in lock(&self.conns).values() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for AttachGuard {
    fn drop(&mut self) {
        let mut attached = lock(&self.registry.attached);
        if *attached == Some(self.id) {
            *attached = None;
            self.registry.detached.notify_all();
            tracing::debug!(id = self.id, "device detached");
        }
    }
}

impl ShutdownHandle {
    /// Makes [`Server::run`] return and closes every connection.
    pub fn shutdown(&self) {
        self.registry.close_all();
        // Unblock accept() with a connection of our own.
        let _ = TcpStream::connect_timeout(&self.registry.wake_addr, Duration::from_secs(1));
    }

    /// Like [`ShutdownHandle::shutdown`], but first cancels the requests in
    /// flight (as CTAPHID_CANCEL would) and waits, at most `grace`, for
    /// their answers to reach the hosts. A handler past the point of
    /// checking for a cancel finishes its work first.
    pub fn shutdown_gracefully(&self, grace: Duration) {
        self.registry.drain(grace);
        self.shutdown();
    }

    pub fn is_shutdown(&self) -> bool {
        self.registry.stopping()
    }
}

impl Server {
    /// Binds the listener. Fails for an unusable device config or address.
    pub fn bind(config: ServerConfig) -> io::Result<Server> {
        config
            .device
            .validate()
            .map_err(|msg| io::Error::new(io::ErrorKind::InvalidInput, msg))?;
        let listener = TcpListener::bind(config.listen)?;
        let local_addr = listener.local_addr()?;
        let wake_ip = match local_addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        Ok(Server {
            listener,
            local_addr,
            device: config.device,
            registry: Arc::new(Registry {
                stop: AtomicBool::new(false),
                draining: AtomicBool::new(false),
                wake_addr: SocketAddr::new(wake_ip, local_addr.port()),
                conns: Mutex::new(HashMap::new()),
                links: Mutex::new(HashMap::new()),
                attached: Mutex::new(None),
                detached: Condvar::new(),
            }),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            registry: Arc::clone(&self.registry),
        }
    }

    /// Accepts connections until shut down; blocks the calling thread.
    /// The handler is shared by all connections behind one mutex.
    pub fn run<H: MessageHandler>(self, handler: H) -> io::Result<()> {
        let ctx = Arc::new(connection::Context {
            record: self.device.record(),
            device: self.device,
            registry: Arc::clone(&self.registry),
            handler: Arc::new(Mutex::new(handler)),
        });
        tracing::info!(addr = %self.local_addr, "USB/IP server listening");
        let mut threads: Vec<JoinHandle<()>> = Vec::new();
        let mut next_id = 0u64;
        loop {
            let accepted = self.listener.accept();
            if self.registry.stopping() {
                break;
            }
            match accepted {
                Ok((stream, peer)) => {
                    next_id += 1;
                    let id = next_id;
                    tracing::debug!(id, %peer, "connection accepted");
                    if !self.registry.register(id, &stream) {
                        continue;
                    }
                    threads.retain(|t| !t.is_finished());
                    let ctx = Arc::clone(&ctx);
                    let spawned = thread::Builder::new()
                        .name(format!("usbip-conn-{id}"))
                        .spawn(move || connection::serve(id, stream, &ctx));
                    match spawned {
                        Ok(t) => threads.push(t),
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot start a connection thread");
                            self.registry.forget(id);
                        }
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                    ) => {}
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    thread::sleep(Duration::from_millis(100));
                }
            }
        }
        self.registry.close_all();
        for t in threads {
            let _ = t.join();
        }
        tracing::info!("USB/IP server stopped");
        Ok(())
    }
}
