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
use std::io::{self, Write};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};

pub use device::{UhidDevice, UhidShutdown};
pub use relay::{Relay, RelayConfig};

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

/// A poll timeout, at least a millisecond so that a due timer cannot spin.
pub(crate) fn timespec(wait: Duration) -> Timespec {
    let wait = wait.max(Duration::from_millis(1));
    Timespec {
        tv_sec: i64::try_from(wait.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(wait.subsec_nanos()),
    }
}
