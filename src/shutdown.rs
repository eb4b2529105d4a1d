//! Stopping `softkey serve` cleanly on SIGTERM (systemd, `kill`) or SIGINT
//! (Ctrl-C).
//!
//! The first signal starts a graceful stop on a watcher thread: the request
//! in flight is cancelled as a CTAPHID_CANCEL would cancel it (an open
//! prompt closes and the client gets its error; a request already past the
//! prompt finishes and is answered), then the USB/IP server closes its
//! connections and [`softkey_transport::Server::run`] returns, dropping the
//! key and with it the vault and its lock. A second signal while stopping
//! exits at once. The signal handlers themselves only set flags and write
//! one byte to a socket (signal-hook), so no unsafe code is needed here.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::{flag, low_level};
use softkey_transport::{ShutdownHandle, UhidShutdown};

/// How long a stop waits for the request in flight to answer after its
/// cancel; providers close at once, so this only bounds a stuck one.
const GRACE: Duration = Duration::from_secs(5);

/// Set once a stop has begun; prompts use it to say why they closed.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Whether `softkey serve` is stopping on a signal.
pub fn is_stopping() -> bool {
    STOPPING.load(Ordering::SeqCst)
}

/// What a signal stops gracefully: the USB/IP server or the uhid device.
pub trait GracefulStop: Send + 'static {
    fn shutdown_gracefully(&self, grace: Duration);
}

impl GracefulStop for ShutdownHandle {
    fn shutdown_gracefully(&self, grace: Duration) {
        ShutdownHandle::shutdown_gracefully(self, grace);
    }
}

impl GracefulStop for UhidShutdown {
    fn shutdown_gracefully(&self, grace: Duration) {
        UhidShutdown::shutdown_gracefully(self, grace);
    }
}

/// Watches for SIGTERM and SIGINT and stops the server on the first one.
#[derive(Debug)]
pub struct SignalWatch {
    received: Arc<AtomicUsize>,
}

impl SignalWatch {
    /// Installs the handlers and starts the watcher thread.
    pub fn install(server: impl GracefulStop) -> io::Result<Self> {
        let armed = Arc::new(AtomicBool::new(false));
        let received = Arc::new(AtomicUsize::new(0));
        let (mut wake, write_end) = UnixStream::pair()?;
        for signal in [SIGTERM, SIGINT] {
            // Order matters: the exit-at-once handler runs first, so it only
            // fires when an earlier signal has already armed it.
            flag::register_conditional_shutdown(signal, 128 + signal, Arc::clone(&armed))?;
            flag::register(signal, Arc::clone(&armed))?;
            flag::register_usize(signal, Arc::clone(&received), signal_number(signal))?;
            low_level::pipe::register(signal, write_end.try_clone()?)?;
        }
        let seen = Arc::clone(&received);
        thread::Builder::new()
            .name("signal-watch".into())
            .spawn(move || {
                let mut byte = [0u8; 1];
                loop {
                    match wake.read(&mut byte) {
                        Ok(0) => return,
                        Ok(_) if seen.load(Ordering::SeqCst) != 0 => break,
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "signal watcher failed");
                            return;
                        }
                    }
                }
                STOPPING.store(true, Ordering::SeqCst);
                let name = name(seen.load(Ordering::SeqCst));
                tracing::info!(signal = name, "stopping");
                say(&format!(
                    "softkey: stopping ({name}): cancelling the request in flight, if any \
                     (send it again to quit at once)"
                ));
                server.shutdown_gracefully(GRACE);
            })?;
        Ok(Self { received })
    }

    /// The signal that stopped the server, if one did (e.g. "SIGTERM").
    pub fn stopped_by(&self) -> Option<&'static str> {
        match self.received.load(Ordering::SeqCst) {
            0 => None,
            signal => Some(name(signal)),
        }
    }
}

/// One line on stderr; a closed stderr must not stop the shutdown.
pub fn say(text: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{text}");
    let _ = err.flush();
}

fn signal_number(signal: i32) -> usize {
    usize::try_from(signal).unwrap_or(usize::MAX)
}

fn name(signal: usize) -> &'static str {
    if signal == signal_number(SIGINT) {
        "SIGINT"
    } else {
        "SIGTERM"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_named_for_the_stop_message() {
        assert_eq!(name(signal_number(SIGTERM)), "SIGTERM");
        assert_eq!(name(signal_number(SIGINT)), "SIGINT");
    }
}
