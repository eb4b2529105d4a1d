//! The terminal prompt: names the site, the account and the operation, and
//! waits for y/n with a timeout. Reads standard input on its own thread so
//! that a cancel from the platform closes the prompt at once.

use std::io::{BufRead, Write};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use softkey_authenticator::{PresenceError, PresenceRequest};
use softkey_transport::Signals;

use super::{PresenceProvider, describe};

/// How often a waiting prompt looks for a cancel; well under the 100 ms
/// keepalive period so the platform sees the prompt close promptly.
const POLL: Duration = Duration::from_millis(20);

#[derive(Debug)]
pub struct TtyPresence {
    lines: Receiver<String>,
    timeout: Duration,
}

impl TtyPresence {
    pub fn new(timeout: Duration) -> Self {
        let (tx, lines) = mpsc::channel();
        thread::Builder::new()
            .name("tty-input".into())
            .spawn(move || {
                for line in std::io::stdin().lock().lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            })
            .ok();
        Self { lines, timeout }
    }

    fn say(text: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{text}");
        let _ = err.flush();
    }
}

impl PresenceProvider for TtyPresence {
    fn ask(
        &mut self,
        request: &PresenceRequest<'_>,
        signals: &Signals,
    ) -> Result<(), PresenceError> {
        // Anything typed before the prompt appeared is not an answer to it.
        while self.lines.try_recv().is_ok() {}
        let deadline = Instant::now() + self.timeout;
        Self::say(&format!(
            "\nsoftkey: {}.\n  Approve? [y/N] ({} s)",
            describe(request),
            self.timeout.as_secs()
        ));
        loop {
            if signals.is_cancelled() {
                Self::say("  Cancelled by the client.");
                return Err(PresenceError::Cancelled);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                Self::say("  No answer in time: refused.");
                return Err(PresenceError::Timeout);
            }
            match self.lines.recv_timeout(left.min(POLL)) {
                Ok(line) => match line.trim().to_ascii_lowercase().as_str() {
                    "y" | "yes" => {
                        Self::say("  Approved.");
                        return Ok(());
                    }
                    "" | "n" | "no" => {
                        Self::say("  Denied.");
                        return Err(PresenceError::Denied);
                    }
                    _ => Self::say("  Please answer y or n."),
                },
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    Self::say("  Standard input is closed: refused.");
                    return Err(PresenceError::Denied);
                }
            }
        }
    }
}
