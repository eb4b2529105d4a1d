//! The boundary between the transport and whatever answers CTAP messages.
//!
//! The transport hands one complete CTAPHID CBOR or MSG request to a
//! [`MessageHandler`] on a worker thread, keeps reading the socket while it
//! runs (so CANCEL and other channels' INIT are seen), and sends KEEPALIVE
//! packets with the status the handler last set through [`Signals`].

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Which CTAPHID command carried the request (CTAP 2.1 §11.2.9.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// CTAPHID_CBOR (0x10): a CTAP2 command byte followed by CBOR.
    Cbor,
    /// CTAPHID_MSG (0x03): a CTAP1/U2F APDU.
    Msg,
}

/// One complete request, reassembled from its packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub channel: u32,
    pub kind: RequestKind,
    pub payload: Vec<u8>,
}

/// KEEPALIVE status byte (CTAP 2.1 §11.2.9.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum KeepaliveStatus {
    Processing = 0x01,
    UpNeeded = 0x02,
}

/// Why the transport answers a request without the handler's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// CTAPHID_CANCEL arrived, the host went away or the server is stopping
    /// before the handler began the request, so it never runs.
    Cancelled,
    /// The handler panicked while answering.
    Failed,
}

/// Answers CTAP requests. Implemented by the binary around the authenticator.
pub trait MessageHandler: Send + 'static {
    /// Returns the response payload: for CBOR the status byte then the CBOR
    /// body, for MSG the response APDU including its status word. May block
    /// (waiting for the user); must return promptly once `signals` reports a
    /// cancel.
    fn handle(&mut self, request: Request, signals: &Signals) -> Vec<u8>;

    /// The response payload for a request of `kind` that the transport
    /// answers itself, for `why`. The transport knows no CTAP or U2F status
    /// bytes; the handler, which speaks those protocols, supplies them.
    fn refusal(&self, kind: RequestKind, why: Refusal) -> Vec<u8>;

    /// A host attached the device: a power-up as the authenticator sees it
    /// (resets power-cycle state, opens the reset window).
    fn attached(&mut self) {}

    /// The host that attached the device let go (detach, disconnect or a
    /// protocol error). Runs after the connection's last request.
    fn detached(&mut self) {}

    /// How to show the user which device is speaking (CTAPHID_WINK), asked
    /// for once when the server starts. It runs on a thread of its own,
    /// never the request thread (a wink must not wait behind an open
    /// prompt), one wink at a time, and WINKs that arrive meanwhile are
    /// merged into the next. `None`: WINK is answered and shows nothing.
    fn winker(&self) -> Option<Winker> {
        None
    }
}

/// Shows one wink (see [`MessageHandler::winker`]).
pub type Winker = Box<dyn Fn() + Send + 'static>;

#[derive(Debug, Default)]
struct SignalState {
    cancelled: bool,
    status: Option<KeepaliveStatus>,
    /// No KEEPALIVE for this request (a test lab's fault).
    keepalives_withheld: bool,
}

/// Shared between the transport and one in-flight request: cancellation
/// flows in, the keepalive status flows out. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Signals {
    inner: Arc<(Mutex<SignalState>, Condvar)>,
}

impl Signals {
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks the request cancelled (CTAPHID_CANCEL, or the host went away)
    /// and wakes anyone in [`Signals::wait_cancelled`].
    pub fn cancel(&self) {
        let (lock, cvar) = &*self.inner;
        lock.lock().unwrap_or_else(|e| e.into_inner()).cancelled = true;
        cvar.notify_all();
    }

    pub fn is_cancelled(&self) -> bool {
        let (lock, _) = &*self.inner;
        lock.lock().unwrap_or_else(|e| e.into_inner()).cancelled
    }

    /// Sleeps until cancelled or `timeout` passes; returns whether cancelled.
    /// Presence providers poll the user with this instead of a busy loop.
    pub fn wait_cancelled(&self, timeout: Duration) -> bool {
        let (lock, cvar) = &*self.inner;
        let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = cvar
            .wait_timeout_while(guard, timeout, |s| !s.cancelled)
            .unwrap_or_else(|e| e.into_inner());
        guard.cancelled
    }

    /// Sets the status that KEEPALIVE packets carry from now on.
    pub fn set_status(&self, status: KeepaliveStatus) {
        let (lock, _) = &*self.inner;
        lock.lock().unwrap_or_else(|e| e.into_inner()).status = Some(status);
    }

    /// Sends no KEEPALIVE for this request, as a key that stalls silently
    /// would not (the test lab's fault injection; a served key never does).
    pub fn withhold_keepalives(&self) {
        let (lock, _) = &*self.inner;
        lock.lock()
            .unwrap_or_else(|e| e.into_inner())
            .keepalives_withheld = true;
    }

    /// Whether [`Signals::withhold_keepalives`] was called.
    pub fn keepalives_withheld(&self) -> bool {
        let (lock, _) = &*self.inner;
        lock.lock()
            .unwrap_or_else(|e| e.into_inner())
            .keepalives_withheld
    }

    /// The status for the next KEEPALIVE (PROCESSING unless the handler said otherwise).
    pub fn status(&self) -> KeepaliveStatus {
        let (lock, _) = &*self.inner;
        lock.lock()
            .unwrap_or_else(|e| e.into_inner())
            .status
            .unwrap_or(KeepaliveStatus::Processing)
    }
}
