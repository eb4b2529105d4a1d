//! The desktop-notification prompt (`--presence notify`): each request shows
//! a freedesktop notification with Approve and Deny buttons and waits for a
//! click, a dismissal, a cancel from the platform or the prompt timeout.
//! Only the Approve button approves: a click on the body (the notification
//! spec's "default" action) is no answer, since it is easily made by accident.

mod bus;

use std::io::Write;
use std::time::{Duration, Instant};

use softkey_authenticator::{Operation, PresenceError, PresenceRequest, Requester};
use softkey_transport::Signals;

use self::bus::{BusGone, CloseReason, Event, NotificationServer};
use super::PresenceProvider;
use crate::prompt_text::{describe, requester};

/// How often a waiting prompt looks for a cancel; well under the 100 ms
/// keepalive period so the platform sees the prompt close promptly.
const POLL: Duration = Duration::from_millis(20);

/// Why `--presence notify` cannot work here, worded as advice.
#[derive(Debug)]
pub struct NotifyUnavailable(bus::SetupError);

impl std::fmt::Display for NotifyUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no desktop notification server with action buttons on the session bus ({}): \
             use --presence tty (terminal) or --presence socket (softkey approve/deny)",
            self.0
        )
    }
}

impl std::error::Error for NotifyUnavailable {}

#[derive(Debug)]
pub struct NotifyPresence {
    server: NotificationServer,
    timeout: Duration,
}

impl NotifyPresence {
    /// Connects to the session's notification server now, so that a missing
    /// one is reported when `serve` starts rather than at the first request.
    pub fn new(timeout: Duration) -> Result<Self, NotifyUnavailable> {
        let server = NotificationServer::connect().map_err(NotifyUnavailable)?;
        Ok(Self { server, timeout })
    }

    fn say(text: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{text}");
        let _ = err.flush();
    }

    /// Waits for the answer to notification `id`.
    fn wait(&self, id: u32, deadline: Instant, signals: &Signals) -> Result<(), PresenceError> {
        loop {
            if signals.is_cancelled() {
                // CTAP 2.1 §11.2.9.1.5 (CTAPHID_CANCEL): close the prompt at once.
                self.server.close(id);
                Self::say(&format!("  {}", super::cancelled_because()));
                return Err(PresenceError::Cancelled);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.server.close(id);
                Self::say("  No answer in time: refused.");
                return Err(PresenceError::Timeout);
            }
            match self.server.next_event(left.min(POLL)) {
                Ok(Some(Event::Action { id: got, key })) if got == id => match key.as_str() {
                    bus::APPROVE => {
                        self.server.close(id);
                        Self::say("  Approved.");
                        return Ok(());
                    }
                    bus::DENY => {
                        self.server.close(id);
                        Self::say("  Denied.");
                        return Err(PresenceError::Denied);
                    }
                    // "default" (a click on the body) or anything else: no answer.
                    _ => {}
                },
                Ok(Some(Event::Closed { id: got, reason })) if got == id => {
                    return Err(if reason == CloseReason::Expired {
                        Self::say("  The notification expired: refused.");
                        PresenceError::Timeout
                    } else {
                        Self::say("  The notification was dismissed: refused.");
                        PresenceError::Denied
                    });
                }
                Ok(_) => {}
                Err(BusGone) => {
                    Self::say("  Lost the connection to the session bus: refused.");
                    return Err(PresenceError::Denied);
                }
            }
        }
    }
}

impl PresenceProvider for NotifyPresence {
    fn ask(
        &mut self,
        request: &PresenceRequest<'_>,
        signals: &Signals,
    ) -> Result<(), PresenceError> {
        // Clicks on earlier notifications are not answers to this one.
        self.server.drain();
        let deadline = Instant::now() + self.timeout;
        let described = describe(request);
        Self::say(&format!(
            "\nsoftkey: {described}.\n  Approve or deny it in the desktop notification ({} s).",
            self.timeout.as_secs()
        ));
        let body = format!(
            "{described}.\nApprove only if you started this. The request is refused in {} s.",
            self.timeout.as_secs()
        );
        let id = match self.server.show(&summary(request), &body) {
            Ok(id) => id,
            Err(e) => {
                Self::say(&format!("  Cannot show the notification ({e}): refused."));
                return Err(PresenceError::Denied);
            }
        };
        self.wait(id, deadline, signals)
    }
}

/// The one-line title: the question, naming the site when there is one.
fn summary(request: &PresenceRequest<'_>) -> String {
    let site = match request.requester {
        Requester::Rp("") => Some("an empty RP id".to_owned()),
        Requester::Rp(_) | Requester::U2fApplication(_) => Some(requester(request)),
        Requester::Device => None,
    };
    match (request.operation, site) {
        (Operation::Register, Some(site)) => format!("softkey: register with {site}?"),
        (Operation::SignIn, Some(site)) => format!("softkey: sign in to {site}?"),
        (Operation::Reset, _) => "softkey: reset the key and erase all its credentials?".into(),
        (operation, Some(site)) => format!("softkey: {operation} for {site}?"),
        (operation, None) => format!("softkey: {operation}?"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(operation: Operation, requester: Requester<'_>) -> PresenceRequest<'_> {
        PresenceRequest {
            operation,
            requester,
            user_name: None,
            user_display_name: None,
        }
    }

    #[test]
    fn summary_asks_the_question_with_the_site() {
        assert_eq!(
            summary(&request(Operation::SignIn, Requester::Rp("github.com"))),
            "softkey: sign in to \"github.com\"?"
        );
        assert_eq!(
            summary(&request(Operation::Register, Requester::Rp("shop.example"))),
            "softkey: register with \"shop.example\"?"
        );
        let app = [0xab; 32];
        assert_eq!(
            summary(&request(
                Operation::Register,
                Requester::U2fApplication(&app)
            )),
            "softkey: register with a U2F app (abababab…)?"
        );
        assert_eq!(
            summary(&request(Operation::Register, Requester::Rp("a\x1bb"))),
            "softkey: register with \"a\\x1bb\"?"
        );
        assert_eq!(
            summary(&request(Operation::Register, Requester::Rp(""))),
            "softkey: register with an empty RP id?"
        );
        assert_eq!(
            summary(&request(Operation::Select, Requester::Device)),
            "softkey: select this key?"
        );
        assert!(summary(&request(Operation::Reset, Requester::Device)).contains("erase all"));
    }

    #[test]
    fn unavailable_message_says_what_to_do() {
        let text =
            NotifyUnavailable(bus::SetupError::ActionsUnsupported { server: None }).to_string();
        assert!(text.starts_with("no desktop notification server with action buttons"));
        assert!(text.contains("--presence tty") && text.contains("--presence socket"));
    }
}
