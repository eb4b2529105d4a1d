//! `softkey uhid-relay`: the small privileged process that lets an
//! unprivileged `softkey serve` be a HID device, without giving anyone
//! write access to `/dev/uhid` (which could create a keyboard).
//!
//! It runs as root, listens on a Unix socket, and for each connection from
//! an allowed uid (`SO_PEERCRED`, checked at accept, before anything is
//! read) creates exactly one FIDO HID device, always the same one (the
//! client chooses nothing: not the descriptor, the name or the ids; the
//! serial number is `uid` and the uid, so two users' keys differ). Then it
//! relays 64-byte reports and nothing else: the kernel's OUTPUT reports to
//! the socket, the socket's 64-byte frames as `UHID_INPUT2`. When the
//! connection closes the device is destroyed (`UHID_DESTROY`). GET_REPORT
//! and SET_REPORT are answered here with an error and never reach the
//! client (docs/linux.md "The uhid relay", SECURITY.md "The uhid relay").
//!
//! Bounds, so one client cannot hurt another or the relay: one thread per
//! connection, at most [`MAX_DEVICES_PER_UID`] devices per uid, at most one
//! partial frame buffered from a client, a client's frames paced to
//! [`CLIENT_BURST`] at once then one per [`CLIENT_INTERVAL`] (it is read
//! more slowly, nothing is dropped), and at most [`MAX_QUEUED`] reports
//! kept for a client that does not read (one more closes it).

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, poll};

use super::endpoint;
use super::event::{self, EVENT_SIZE};
use super::frames::{Framer, Pace};
use super::{timespec, write_event};
use crate::ctaphid::PACKET_SIZE;
use crate::lock::lock;
use crate::usbip::descriptors::DeviceConfig;

/// Where the relay listens unless told otherwise (systemd's
/// `RuntimeDirectory=softkey` makes the directory).
pub const DEFAULT_SOCKET: &str = "/run/softkey/uhid.sock";
/// The kernel's uhid character device.
pub const UHID_PATH: &str = "/dev/uhid";
/// Devices one uid may have at once (one per `softkey serve`).
pub const MAX_DEVICES_PER_UID: usize = 4;
/// Frames a client may send at once...
pub const CLIENT_BURST: u32 = 256;
/// ...then one per this long (4,000 a second; a USB full-speed interrupt
/// endpoint carries at most 1,000).
pub const CLIENT_INTERVAL: Duration = Duration::from_micros(250);
/// Reports from the host kept for a client that does not read them.
pub const MAX_QUEUED: usize = 256;

/// Refuses a socket directory that is not ours alone (see [`Relay::bind`]).
fn check_socket_dir(socket: &Path) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let dir = match socket.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let meta = std::fs::symlink_metadata(dir)?;
    let ours = meta.uid() == rustix::process::geteuid().as_raw();
    if !meta.is_dir() || !ours || meta.mode() & 0o022 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} must be a directory of this user's that no one else may write to \
                 (the relay's unit uses /run/softkey)",
                dir.display()
            ),
        ));
    }
    Ok(())
}

/// What the relay serves.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The Unix socket to listen on; a stale socket there is replaced.
    pub socket: PathBuf,
    /// The uids whose connections get a device; everyone else's are closed.
    pub allowed_uids: Vec<u32>,
    /// The uhid device, normally [`UHID_PATH`].
    pub uhid: PathBuf,
}

/// A bound relay; [`Relay::run`] serves it.
#[derive(Debug)]
pub struct Relay {
    listener: UnixListener,
    config: RelayConfig,
    device: DeviceConfig,
}

impl Relay {
    /// Binds the socket, world-connectable (mode 0666): who may use it is
    /// decided per connection by uid.
    ///
    /// The socket's directory must belong to this (root) process's user
    /// and be writable by no one else: the relay removes a stale socket
    /// and then sets the new one's mode by path, so in a directory another
    /// user can write to, they could swap in a symlink between the two and
    /// have root change the mode of any file.
    pub fn bind(config: RelayConfig) -> io::Result<Relay> {
        if !super::event::LAYOUT_MATCHES_TARGET {
            return Err(super::event::unsupported_target());
        }
        check_socket_dir(&config.socket)?;
        remove_stale_socket(&config.socket)?;
        let listener = UnixListener::bind(&config.socket)?;
        std::fs::set_permissions(&config.socket, std::fs::Permissions::from_mode(0o666))?;
        Ok(Relay {
            listener,
            config,
            device: DeviceConfig::new(String::new()),
        })
    }

    pub fn socket(&self) -> &Path {
        &self.config.socket
    }

    /// Accepts connections until the process ends, opening the configured
    /// uhid device for each allowed one.
    pub fn run(self) -> io::Result<()> {
        let path = self.config.uhid.clone();
        self.run_with(move || OpenOptions::new().read(true).write(true).open(&path))
    }

    /// [`Relay::run`] with another way to get each device's uhid file (a
    /// test's socket pair standing in for the kernel).
    pub fn run_with<F>(self, open_uhid: F) -> io::Result<()>
    where
        F: Fn() -> io::Result<File> + Send + Sync + 'static,
    {
        let open_uhid = Arc::new(open_uhid);
        let devices: Arc<Mutex<HashMap<u32, usize>>> = Arc::default();
        let mut warned = HashSet::new();
        tracing::info!(socket = %self.config.socket.display(), allowed = ?self.config.allowed_uids, "uhid relay listening");
        loop {
            let client = match self.listener.accept() {
                Ok((client, _)) => client,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            let uid = match rustix::net::sockopt::socket_peercred(&client) {
                Ok(cred) => cred.uid.as_raw(),
                Err(e) => {
                    tracing::warn!(error = %e, "no peer credentials: connection closed");
                    continue;
                }
            };
            if !self.config.allowed_uids.contains(&uid) {
                // Logged once per uid (bounded), so a loop of refused
                // connections cannot fill the journal.
                if warned.len() < 1024 && warned.insert(uid) {
                    tracing::warn!(uid, "refused a connection: uid not in --allow-user");
                } else {
                    tracing::debug!(uid, "refused a connection: uid not in --allow-user");
                }
                continue;
            }
            {
                let mut devices = lock(&devices);
                let count = devices.entry(uid).or_insert(0);
                if *count >= MAX_DEVICES_PER_UID {
                    tracing::warn!(
                        uid,
                        "refused a connection: uid has {MAX_DEVICES_PER_UID} devices already"
                    );
                    continue;
                }
                *count += 1;
            }
            let create =
                endpoint::create_event(&self.device, "softkey-uhid-relay", &format!("uid{uid}"));
            let (counts, open_uhid) = (Arc::clone(&devices), Arc::clone(&open_uhid));
            let spawned = thread::Builder::new()
                .name(format!("uhid-relay-{uid}"))
                .spawn(move || {
                    match open_uhid().and_then(|uhid| relay_connection(client, uhid, &create)) {
                        Ok(()) => {
                            tracing::info!(uid, "device removed: the client closed the connection")
                        }
                        Err(e) => tracing::info!(uid, error = %e, "device removed"),
                    }
                    if let Some(count) = lock(&counts).get_mut(&uid) {
                        *count = count.saturating_sub(1);
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(uid, error = %e, "no thread for a connection");
                if let Some(count) = lock(&devices).get_mut(&uid) {
                    *count = count.saturating_sub(1);
                }
            }
        }
    }
}

/// Replaces a socket left by an earlier run; refuses to remove anything
/// else that is in the way.
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path),
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket", path.display()),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// One client's device, from `UHID_CREATE2` to `UHID_DESTROY`: relays
/// reports both ways until the client closes the connection, breaks a
/// bound, or the device fails. One thread, blocked in `poll` while idle.
pub fn relay_connection(client: UnixStream, uhid: File, create: &[u8]) -> io::Result<()> {
    write_event(&uhid, create)?;
    let result = relay_reports(&client, &uhid);
    // The device goes with the connection; closing the file would remove
    // it too, this says so first.
    let _ = write_event(&uhid, &event::destroy());
    result
}

fn relay_reports(client: &UnixStream, uhid: &File) -> io::Result<()> {
    client.set_nonblocking(true)?;
    rustix::io::ioctl_fionbio(uhid, true)?;
    let mut framer = Framer::new();
    let mut pace = Pace::new(Instant::now(), CLIENT_BURST, CLIENT_INTERVAL);
    // Reports for the client, back to back, written with as few calls as
    // the socket allows.
    let mut queue: VecDeque<u8> = VecDeque::new();
    let mut event_buf = vec![0u8; EVENT_SIZE];
    let mut throttled_until: Option<Instant> = None;
    loop {
        let now = Instant::now();
        if throttled_until.is_some_and(|at| at <= now) {
            throttled_until = None;
        }
        let mut client_flags = PollFlags::empty();
        if throttled_until.is_none() {
            client_flags |= PollFlags::IN;
        }
        if !queue.is_empty() {
            client_flags |= PollFlags::OUT;
        }
        let mut fds = [
            PollFd::new(client, client_flags),
            PollFd::new(uhid, PollFlags::IN),
        ];
        let timeout = throttled_until.map(|at| timespec(at.saturating_duration_since(now)));
        match poll(&mut fds, timeout.as_ref()) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let [client_fd, uhid_fd] = &fds;
        let (client_ready, uhid_ready) = (client_fd.revents(), uhid_fd.revents());

        if uhid_ready.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR) {
            super::drain_uhid(uhid, &mut event_buf, |report| {
                if queue.len() >= MAX_QUEUED * PACKET_SIZE {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the client reads no reports",
                    ));
                }
                queue.extend(report);
                Ok(())
            })?;
        }

        if client_ready.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR) {
            // A report at a time, while the pace allows: a flood is read
            // more slowly, never buffered.
            let mut buf = [0u8; PACKET_SIZE];
            loop {
                if framer.pending() == 0
                    && let Err(at) = pace.ready(Instant::now())
                {
                    throttled_until = Some(at);
                    break;
                }
                let want = buf.get_mut(..framer.wanted()).unwrap_or_default();
                let n = match (&*client).read(want) {
                    Ok(0) => return Ok(()),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                let mut report = None;
                framer.push(buf.get(..n).unwrap_or_default(), |r| report = Some(*r));
                if let Some(report) = report {
                    let _ = pace.take(Instant::now());
                    write_event(uhid, &event::input2(&report))?;
                }
            }
        }

        // At once, not at the next poll: the client waits for these.
        if !queue.is_empty() && !client_ready.intersects(PollFlags::HUP | PollFlags::ERR) {
            while !queue.is_empty() {
                let (front, _) = queue.as_slices();
                match (&*client).write(front) {
                    Ok(n) => {
                        queue.drain(..n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "relay_tests.rs"]
mod tests;
