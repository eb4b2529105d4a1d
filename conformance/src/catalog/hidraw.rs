//! A FIDO key's `/dev/hidrawN` as a pipe of 64-byte reports: what libfido2
//! and browsers open on Linux. FIDO HID devices have no report IDs, so a
//! write is a zero report-ID byte and the 64-byte report, and a read
//! returns the 64-byte report itself (Linux Documentation/hid/hidraw.rst).

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::Error;
use crate::ctaphid::HidDevice;

/// `O_NONBLOCK` on Linux: reads then return at once, so a read can time out.
const O_NONBLOCK: i32 = 0o4000;
/// How often a waiting read looks again.
const POLL: Duration = Duration::from_millis(1);

/// An opened hidraw node.
#[derive(Debug)]
pub struct Hidraw {
    file: File,
}

impl Hidraw {
    pub fn open(path: &Path) -> Result<Self, Error> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(O_NONBLOCK)
            .open(path)?;
        Ok(Hidraw { file })
    }
}

impl HidDevice for Hidraw {
    fn write_report(&mut self, report: &[u8; 64]) -> Result<(), Error> {
        let mut out = [0u8; 65];
        if let Some(body) = out.get_mut(1..) {
            body.copy_from_slice(report);
        }
        let written = loop {
            match self.file.write(&out) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(POLL),
                other => break other?,
            }
        };
        if written != out.len() {
            return Err(Error::protocol(format!(
                "hidraw took {written} of 65 bytes"
            )));
        }
        Ok(())
    }

    fn read_report(&mut self, timeout: Duration) -> Result<Option<[u8; 64]>, Error> {
        let deadline = Instant::now() + timeout;
        let mut report = [0u8; 64];
        loop {
            match self.file.read(&mut report) {
                Ok(64) => return Ok(Some(report)),
                Ok(n) => {
                    return Err(Error::protocol(format!(
                        "hidraw gave a {n}-byte report, not 64"
                    )));
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return Ok(None);
                    }
                    std::thread::sleep(POLL);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
