//! The key as a Linux HID device made through uhid (`/dev/uhid`; the
//! kernel's uhid documentation, `Documentation/hid/uhid.rst`), instead of a
//! USB device over USB/IP.
//!
//! - [`event`]: `struct uhid_event` as bytes (sans-IO).
//! - [`endpoint`]: the FIDO device's `UHID_CREATE2` and what each kernel
//!   event means for it (sans-IO), shared by the two ways below.
//! - [`frames`]: the relay socket's 64-byte framing and pacing (sans-IO).
//! - [`relay`]: `softkey uhid-relay`, the privileged process that makes one
//!   device per allowed connection and relays reports.
//! - [`device`]: `softkey serve --transport uhid`, the CTAPHID engine and
//!   the handler over the relay's socket or `/dev/uhid` itself.

pub mod device;
pub mod endpoint;
pub mod event;
pub mod frames;
pub mod relay;

use std::fs::File;
use std::io::{self, Read, Write};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};

pub use device::{UhidDevice, UhidShutdown};
pub use relay::{Relay, RelayConfig};

/// The longest message a host can send a uhid device with no report lost,
/// for getInfo maxMsgSize: the kernel queues events from the host for the
/// reader of `/dev/uhid` in a ring of 32 that holds 31 (one place stays
/// empty) and drops newer ones, and a hidraw write never waits (unlike a
/// USB host, which sends only what the device takes). 31 reports carry an
/// initialization packet's 57 bytes and 30 continuation packets of 59
/// (CTAP 2.1 §11.2.4).
pub const MAX_WHOLE_MESSAGE: usize = 57 + 30 * 59;

/// How long a write waits for a uhid file that is not ready (a real one
/// always is; a test's socket may be full).
const WRITE_WAIT: Duration = Duration::from_secs(5);

/// One event, one `write`: uhid takes a whole event per call, never a part.
/// The file may be non-blocking.
pub(crate) fn write_event(uhid: &File, event: &[u8]) -> io::Result<()> {
    loop {
        match (&*uhid).write(event) {
            Ok(n) if n == event.len() => return Ok(()),
            Ok(n) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!("uhid took {n} of {} bytes", event.len()),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let mut fds = [PollFd::new(uhid, PollFlags::OUT)];
                match poll(&mut fds, Some(&timespec(WRITE_WAIT))) {
                    Ok(0) => return Err(io::ErrorKind::TimedOut.into()),
                    Ok(_) | Err(rustix::io::Errno::INTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Kernel events read in one go (the kernel queues at most 32).
const UHID_DRAIN: usize = 64;

/// Reads everything the kernel has queued on a non-blocking uhid file, at once: uhid keeps 32
/// events for its reader and drops newer ones (uhid.rst), and a host writes a long message's
/// reports back to back, with no flow control. Each output report goes to `on_report`;
/// requests the kernel wants answered are answered here.
pub(crate) fn drain_uhid(
    uhid: &File,
    buf: &mut [u8],
    mut on_report: impl FnMut(crate::ctaphid::Packet) -> io::Result<()>,
) -> io::Result<()> {
    for _ in 0..UHID_DRAIN {
        let n = match (&*uhid).read(buf) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "uhid closed")),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        match endpoint::handle_event(buf.get(..n).unwrap_or_default()) {
            Ok(endpoint::Action::Report(report)) => on_report(report)?,
            Ok(endpoint::Action::Reply(reply)) => write_event(uhid, &reply)?,
            Ok(endpoint::Action::None) => {}
            Err(e) => tracing::debug!(error = %e, "unreadable uhid event"),
        }
    }
    Ok(())
}

/// A poll timeout, at least a millisecond so that a due timer cannot spin.
pub(crate) fn timespec(wait: Duration) -> Timespec {
    let wait = wait.max(Duration::from_millis(1));
    Timespec {
        tv_sec: i64::try_from(wait.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(wait.subsec_nanos()),
    }
}
