//! User-presence providers: how a person approves or refuses a request.
//!
//! Every provider is told the RP id, the user and the operation, and must
//! return promptly once the platform cancels (CTAPHID_CANCEL).

mod notify;
mod socket;
mod tty;

use std::sync::Arc;
use std::time::Duration;

use softkey_authenticator::{PresenceError, PresenceRequest};
use softkey_transport::Signals;

pub use notify::NotifyPresence;
pub use socket::SocketPresence;
pub use tty::TtyPresence;

use crate::cli::PresenceMode;
use crate::control::ControlState;
use crate::prompt_text::requester;

pub trait PresenceProvider: Send {
    fn ask(
        &mut self,
        request: &PresenceRequest<'_>,
        signals: &Signals,
    ) -> Result<(), PresenceError>;

    /// Built-in user verification ([`softkey_authenticator::UserPresence::verify`]):
    /// only a test-lab key has it; any other provider can show presence
    /// but verifies no one.
    fn verify(
        &mut self,
        request: &PresenceRequest<'_>,
        signals: &Signals,
    ) -> Result<bool, PresenceError> {
        self.ask(request, signals).map(|()| false)
    }
}

/// Approves everything: for tests and scripted relying-party checks.
#[derive(Debug)]
pub struct AutoApprove;

impl PresenceProvider for AutoApprove {
    fn ask(&mut self, request: &PresenceRequest<'_>, _: &Signals) -> Result<(), PresenceError> {
        tracing::info!(from = %requester(request), op = %request.operation, "presence approved (auto)");
        Ok(())
    }
}

/// Why a prompt ended without an answer, as every prompt says it: a
/// shutdown cancels the request in flight as CTAPHID_CANCEL would, and the
/// person should not be told the browser did it.
pub fn cancelled_because() -> &'static str {
    if crate::shutdown::is_stopping() {
        "Cancelled: softkey is stopping."
    } else {
        "Cancelled by the client."
    }
}

/// Refuses everything.
#[derive(Debug)]
pub struct AutoDeny;

impl PresenceProvider for AutoDeny {
    fn ask(&mut self, request: &PresenceRequest<'_>, _: &Signals) -> Result<(), PresenceError> {
        tracing::info!(from = %requester(request), op = %request.operation, "presence denied (deny)");
        Err(PresenceError::Denied)
    }
}

/// The provider `--presence` names. `control` is the state the control socket
/// serves; the socket provider waits on it for `softkey approve` / `deny`.
/// An error says why the provider cannot work here (and what to do).
pub fn provider(
    mode: PresenceMode,
    timeout: Duration,
    control: &Arc<ControlState>,
) -> Result<Box<dyn PresenceProvider>, String> {
    Ok(match mode {
        PresenceMode::Tty => Box::new(TtyPresence::new(timeout)),
        PresenceMode::Socket => Box::new(SocketPresence::new(Arc::clone(control), timeout)),
        // Checked now, so a missing notification server stops `serve` at once.
        PresenceMode::Notify => Box::new(NotifyPresence::new(timeout).map_err(|e| e.to_string())?),
        PresenceMode::Auto => Box::new(AutoApprove),
        PresenceMode::Deny => Box::new(AutoDeny),
    })
}
