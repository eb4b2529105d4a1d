//! `--presence socket`: the request waits on the control socket for
//! `softkey approve` or `softkey deny` from another terminal (or a script).
//! `softkey pending` shows what is waiting. One request at a time; CANCEL or
//! the timeout close it at once (CTAP 2.1 §11.2.9.1.5).

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use softkey_authenticator::{PresenceError, PresenceRequest};
use softkey_transport::Signals;

use super::PresenceProvider;
use crate::control::ControlState;
use crate::prompt_text::describe;

#[derive(Debug)]
pub struct SocketPresence {
    state: Arc<ControlState>,
    timeout: Duration,
}

impl SocketPresence {
    pub fn new(state: Arc<ControlState>, timeout: Duration) -> Self {
        Self { state, timeout }
    }

    fn say(text: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{text}");
        let _ = err.flush();
    }
}

impl PresenceProvider for SocketPresence {
    fn ask(
        &mut self,
        request: &PresenceRequest<'_>,
        signals: &Signals,
    ) -> Result<(), PresenceError> {
        // The key publishes every prompt (crate::key); publish it here only
        // when this provider runs without that glue.
        let own_ticket;
        let id = match self.state.current_id() {
            Some(id) => id,
            None => {
                own_ticket = self.state.open(request, self.timeout);
                own_ticket.id
            }
        };
        Self::say(&format!(
            "softkey: {}. Run `softkey approve` or `softkey deny` ({} s).",
            describe(request),
            self.timeout.as_secs()
        ));
        let answer = self.state.wait_answer(id, signals);
        let cancelled = format!("  {}", super::cancelled_because());
        Self::say(match answer {
            Ok(()) => "  Approved (softkey approve).",
            Err(PresenceError::Denied) => "  Denied (softkey deny).",
            Err(PresenceError::Timeout) => "  No answer in time: refused.",
            Err(PresenceError::Cancelled) => &cancelled,
        });
        answer
    }
}
