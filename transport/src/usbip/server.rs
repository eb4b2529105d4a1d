//! The USB/IP TCP server: accepts connections, hands each to its own thread
//! ([`super::connection`]), lets at most one of them import each exported
//! device, and stops on [`ShutdownHandle::shutdown`]. [`Server::run`]
//! exports the one device of its configuration; [`Server::serve`] serves the
//! devices added through [`Exports`], which may change while it runs
//! ([`super::exports`]).
//!
//! Blocking std I/O, no async runtime: a thread per connection costs nothing
//! for the one or two clients a security key has, and blocking reads keep an
//! idle attached device at zero CPU. What keeps that true on a shared
//! machine (SECURITY.md "Who can reach the key"):
//! - **The attach gate.** On a loopback listener a connection is served only
//!   if its client socket belongs to an allowed uid ([`PeerPolicy`], found in
//!   the kernel's socket table at accept); any other is closed at once, with
//!   a log line naming the uid, before it costs a thread or a slot.
//! - **Bounded openings.** At most 16 connections
//!   ([`MAX_OPENING`](super::registry::MAX_OPENING)) may be in the
//!   DEVLIST/IMPORT phase; one more evicts the oldest, so connections that
//!   trickle bytes cannot keep a real `usbip attach` out. Each has one total
//!   deadline for that phase (see `connection`).
//! - One socket per connection: the registry, the reader and the writer
//!   share it (no descriptor is duplicated).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::connection;
use super::descriptors::DeviceConfig;
use super::exports::{Export, ExportError};
use super::peer::{self, PeerPolicy};
use super::registry::Registry;
use crate::handler::MessageHandler;

/// Where to listen, what device to export and who may use it.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub device: DeviceConfig,
    /// Who may connect; [`PeerPolicy::LocalUids`] needs a loopback listener.
    pub peers: PeerPolicy,
}

/// At most one "refused a connection" warning per this interval; the
/// refusals in between are counted into the next one.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(5);

/// A bound USB/IP server; [`Server::run`] serves it.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    device: DeviceConfig,
    peers: PeerPolicy,
    registry: Arc<Registry>,
}

/// Stops a running [`Server`] from any thread.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    registry: Arc<Registry>,
}

impl ShutdownHandle {
    /// Makes [`Server::run`] return and closes every connection.
    pub fn shutdown(&self) {
        self.registry.close_all();
        // Unblock accept() with a connection of our own.
        let _ = TcpStream::connect_timeout(&self.registry.wake_addr(), Duration::from_secs(1));
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
    /// Binds the listener. Fails for an unusable device config or address,
    /// and for a uid gate on a listener other hosts can reach (the kernel
    /// knows the owners of local sockets only).
    pub fn bind(config: ServerConfig) -> io::Result<Server> {
        config
            .device
            .validate()
            .map_err(|msg| io::Error::new(io::ErrorKind::InvalidInput, msg))?;
        if matches!(config.peers, PeerPolicy::LocalUids(_))
            && !peer::is_loopback(config.listen.ip())
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "only a loopback listener can admit connections by uid",
            ));
        }
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
            peers: config.peers,
            registry: Arc::new(Registry::new(SocketAddr::new(wake_ip, local_addr.port()))),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The serial number string the device reports, set before [`Server::run`]:
    /// `softkey serve` binds first, so a port in use is found before anyone
    /// types a passphrase, and reads the serial from the vault after.
    pub fn set_serial(&mut self, serial: impl Into<String>) {
        self.device.serial = serial.into();
    }

    /// Adds and removes exported devices, before or while the server runs.
    pub fn exports(&self) -> Exports {
        Exports {
            registry: Arc::clone(&self.registry),
        }
    }

    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            registry: Arc::clone(&self.registry),
        }
    }

    /// Exports the configured device with `handler` and accepts connections
    /// until shut down; blocks the calling thread. The handler is shared by
    /// all connections behind one mutex.
    pub fn run<H: MessageHandler>(self, handler: H) -> io::Result<()> {
        match self.exports().add(self.device.clone(), handler) {
            Ok(()) => self.serve(),
            // Shut down before it began (a signal right after the start):
            // that is a stop like any other, and the handler is dropped.
            Err(ExportError::Stopping) => Ok(()),
            Err(e) => Err(io::Error::new(io::ErrorKind::InvalidInput, e)),
        }
    }

    /// Accepts connections until shut down, for the devices added through
    /// [`Server::exports`] (none at first is allowed: a host then lists an
    /// empty bus); blocks the calling thread.
    pub fn serve(self) -> io::Result<()> {
        let mut threads: Vec<JoinHandle<()>> = Vec::new();
        tracing::info!(addr = %self.local_addr, "USB/IP server listening");
        let mut refusals = RefusalLog::default();
        let mut next_id = 0u64;
        loop {
            let accepted = self.listener.accept();
            if self.registry.stopping() {
                break;
            }
            match accepted {
                Ok((stream, peer)) => {
                    // The attach gate: closed here, before a thread, a slot
                    // or a byte read.
                    if let Err(refusal) = admit(&self.peers, self.local_addr, peer) {
                        refusals.note(&refusal, peer);
                        drop(stream);
                        continue;
                    }
                    next_id += 1;
                    let id = next_id;
                    tracing::debug!(id, %peer, "connection accepted");
                    let stream = Arc::new(stream);
                    if !self.registry.register(id, &stream) {
                        continue;
                    }
                    threads.retain(|t| !t.is_finished());
                    let registry = Arc::clone(&self.registry);
                    let spawned = thread::Builder::new()
                        .name(format!("usbip-conn-{id}"))
                        .spawn(move || connection::serve(id, stream, &registry));
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

/// Adds and removes a running server's devices (see [`super::exports`]).
#[derive(Debug, Clone)]
pub struct Exports {
    registry: Arc<Registry>,
}

impl Exports {
    /// Exports `device`, answered by `handler`; hosts see it in their next
    /// device list. Its bus id must be new to this server.
    pub fn add<H: MessageHandler>(
        &self,
        device: DeviceConfig,
        handler: H,
    ) -> Result<(), ExportError> {
        device.validate().map_err(ExportError::InvalidDevice)?;
        if self.registry.stopping() {
            return Err(ExportError::Stopping);
        }
        let export = Arc::new(Export::new(device, handler));
        self.registry.exports.insert(Arc::clone(&export))?;
        if let Err(e) = export.start_winker() {
            // The device works without; a WINK then shows nothing.
            tracing::warn!(error = %e, "cannot start the wink thread");
        }
        Ok(())
    }

    /// Stops exporting the device with this bus id; a host that imported it
    /// sees it unplugged. False if no such device is exported.
    pub fn remove(&self, bus_id: &str) -> bool {
        let Some(export) = self.registry.exports.remove(bus_id) else {
            return false;
        };
        if let Some(connection) = export.end() {
            self.registry.close(connection);
        }
        true
    }

    /// Closes the connection of the host that imported this device, which
    /// stays exported: the host sees it unplugged and may import it again.
    /// False if no host has it.
    pub fn disconnect(&self, bus_id: &str) -> bool {
        let Some(connection) = self
            .registry
            .exports
            .get(bus_id.as_bytes())
            .and_then(|export| export.attached_connection())
        else {
            return false;
        };
        self.registry.close(connection);
        true
    }

    /// The bus ids exported now, in DEVLIST order.
    pub fn bus_ids(&self) -> Vec<String> {
        self.registry.exports.bus_ids()
    }
}

/// Why the attach gate closed a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    /// Its client socket belongs to a user who may not use the key.
    Uid(u32),
    /// Its client socket is not in this network namespace.
    UnknownOwner,
    /// The socket table could not be read: nobody is let in.
    TableUnreadable(String),
}

/// The attach gate (see the module docs).
fn admit(policy: &PeerPolicy, local: SocketAddr, peer: SocketAddr) -> Result<(), Refusal> {
    let PeerPolicy::LocalUids(allowed) = policy else {
        return Ok(());
    };
    match peer::peer_uid(local, peer) {
        Ok(Some(uid)) if allowed.contains(&uid) => Ok(()),
        Ok(Some(uid)) => Err(Refusal::Uid(uid)),
        Ok(None) => Err(Refusal::UnknownOwner),
        Err(e) => Err(Refusal::TableUnreadable(e.to_string())),
    }
}

/// Warns about refused connections, at most once per
/// [`REFUSAL_LOG_INTERVAL`], counting the ones in between: a flood from
/// another user must not flood the owner's terminal.
#[derive(Debug, Default)]
struct RefusalLog {
    last: Option<Instant>,
    unlogged: u64,
}

impl RefusalLog {
    fn note(&mut self, refusal: &Refusal, peer: SocketAddr) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|at| now.duration_since(at) < REFUSAL_LOG_INTERVAL)
        {
            self.unlogged += 1;
            return;
        }
        let more = std::mem::take(&mut self.unlogged);
        let also = if more > 0 {
            format!(" ({more} more refused since the last warning)")
        } else {
            String::new()
        };
        match refusal {
            Refusal::Uid(uid) => tracing::warn!(
                %peer,
                uid,
                "refused a USB/IP connection from uid {uid}: only root and the user running \
                 softkey serve (and --allow-uid) may use this key{also}"
            ),
            Refusal::UnknownOwner => tracing::warn!(
                %peer,
                "refused a USB/IP connection whose owner is unknown (not a local socket){also}"
            ),
            Refusal::TableUnreadable(e) => tracing::warn!(
                %peer,
                "refused a USB/IP connection: cannot read the kernel's socket table to check \
                 its owner ({e}){also}"
            ),
        }
        self.last = Some(now);
    }
}
