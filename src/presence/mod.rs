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

pub trait PresenceProvider: Send {
    fn ask(
        &mut self,
        request: &PresenceRequest<'_>,
        signals: &Signals,
    ) -> Result<(), PresenceError>;
}

/// Approves everything: for tests and scripted relying-party checks.
#[derive(Debug)]
pub struct AutoApprove;

impl PresenceProvider for AutoApprove {
    fn ask(&mut self, request: &PresenceRequest<'_>, _: &Signals) -> Result<(), PresenceError> {
        tracing::info!(rp = request.rp_id, op = %request.operation, "presence approved (auto)");
        Ok(())
    }
}

/// Refuses everything.
#[derive(Debug)]
pub struct AutoDeny;

impl PresenceProvider for AutoDeny {
    fn ask(&mut self, request: &PresenceRequest<'_>, _: &Signals) -> Result<(), PresenceError> {
        tracing::info!(rp = request.rp_id, op = %request.operation, "presence denied (deny)");
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

/// One line that names who asks for what, as every prompt shows it.
pub fn describe(request: &PresenceRequest<'_>) -> String {
    // CTAP1/U2F names no site, only a hash of its app id: say so, never
    // dress the hash up as a site name.
    let mut text = if request.rp_id.is_empty() {
        format!("A request to {}", request.operation)
    } else if let Some(app) = request.rp_id.strip_prefix("U2F app ") {
        format!("A U2F app ({app}) asks to {}", request.operation)
    } else {
        format!("\"{}\" asks to {}", request.rp_id, request.operation)
    };
    match (request.user_name, request.user_display_name) {
        (Some(name), Some(display)) if !display.is_empty() && display != name => {
            text.push_str(&format!(" as \"{name}\" ({display})"));
        }
        (Some(name), _) if !name.is_empty() => text.push_str(&format!(" as \"{name}\"")),
        (_, Some(display)) if !display.is_empty() => text.push_str(&format!(" as {display}")),
        _ => {}
    }
    text
}

#[cfg(test)]
mod tests {
    use softkey_authenticator::Operation;

    use super::*;

    #[test]
    fn u2f_requests_are_not_shown_as_sites() {
        let request = PresenceRequest {
            operation: Operation::Register,
            rp_id: "U2F app 1a2b3c4d",
            user_name: None,
            user_display_name: None,
        };
        assert_eq!(describe(&request), "A U2F app (1a2b3c4d) asks to register");
    }

    #[test]
    fn describe_names_site_user_and_operation() {
        let request = PresenceRequest {
            operation: Operation::Register,
            rp_id: "example.com",
            user_name: Some("alice"),
            user_display_name: Some("Alice A."),
        };
        assert_eq!(
            describe(&request),
            "\"example.com\" asks to register as \"alice\" (Alice A.)"
        );
    }
}
