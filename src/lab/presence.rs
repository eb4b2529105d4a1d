//! How a lab authenticator answers tests of user presence, by the W3C and
//! CDP names: `isUserConsenting` (W3C: every gesture approved, or every one
//! refused, CTAP2_ERR_OPERATION_DENIED) and `automaticPresenceSimulation`
//! (CDP: when false, a test of presence waits). A waiting prompt is
//! answered by a touch (`POST …/{id}/touch`, `softkey lab touch`), as a
//! person would press the key, or ends as a real key's does: cancelled by
//! the platform, or timed out (CTAP2_ERR_USER_ACTION_TIMEOUT). On a key
//! with built-in user verification (`hasUserVerification`), a verification
//! is such a gesture whose finger matches as `isUserVerified` says.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use softkey_authenticator::{PresenceError, PresenceRequest, Requester};

use super::events::EventLog;
use softkey_transport::Signals;

use crate::presence::PresenceProvider;

/// A waiting prompt ends unanswered after this long, as `serve`'s do.
const PROMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// A touch waits this long for a prompt to answer.
const TOUCH_WAIT: Duration = Duration::from_secs(10);
/// How often a waiting prompt looks for a cancel.
const POLL: Duration = Duration::from_millis(20);

/// The answer to the next tests of presence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresencePolicy {
    /// W3C `isUserConsenting`.
    pub consenting: bool,
    /// CDP `automaticPresenceSimulation`: false makes prompts wait.
    pub automatic: bool,
    /// W3C / CDP `isUserVerified`: whether a built-in verification matches.
    pub verified: bool,
}

#[derive(Debug)]
struct State {
    policy: PresencePolicy,
    /// Prompts open now.
    waiting: usize,
    /// Touches given and not yet taken by a prompt.
    touches: usize,
}

/// Shared by the authenticator's prompt and the API.
#[derive(Debug, Clone)]
pub struct LabPresence {
    shared: Arc<(Mutex<State>, Condvar)>,
    /// Where `promptShown` goes, and the authenticator's id.
    events: Option<(Arc<EventLog>, String)>,
}

impl LabPresence {
    pub fn new(policy: PresencePolicy) -> Self {
        LabPresence {
            shared: Arc::new((
                Mutex::new(State {
                    policy,
                    waiting: 0,
                    touches: 0,
                }),
                Condvar::new(),
            )),
            events: None,
        }
    }

    /// Records each test of presence as a `promptShown` event.
    pub fn with_events(mut self, events: Arc<EventLog>, id: String) -> Self {
        self.events = Some((events, id));
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn policy(&self) -> PresencePolicy {
        self.lock().policy
    }

    pub fn set_policy(&self, policy: PresencePolicy) {
        self.lock().policy = policy;
        self.shared.1.notify_all();
    }

    /// Approves one waiting prompt, waiting up to 10 s for one to open.
    /// False if none did.
    pub fn touch(&self) -> bool {
        let deadline = Instant::now() + TOUCH_WAIT;
        let mut state = self.lock();
        while state.waiting <= state.touches {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .shared
                .1
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state.touches += 1;
        self.shared.1.notify_all();
        true
    }
}

impl PresenceProvider for LabPresence {
    fn ask(
        &mut self,
        request: &PresenceRequest<'_>,
        signals: &Signals,
    ) -> Result<(), PresenceError> {
        self.gesture(request, signals, false)
    }

    /// The gesture, then the match as `isUserVerified` says at its end (a
    /// test may change it while the prompt waits).
    fn verify(
        &mut self,
        request: &PresenceRequest<'_>,
        signals: &Signals,
    ) -> Result<bool, PresenceError> {
        self.gesture(request, signals, true)?;
        let verified = self.policy().verified;
        if let Some((events, id)) = &self.events {
            events.push(
                id,
                "userVerified",
                serde_json::json!({ "result": if verified { "matched" } else { "not matched" } }),
            );
        }
        Ok(verified)
    }
}

impl LabPresence {
    /// One gesture: a `promptShown` event, then the policy's answer, a
    /// touch, a cancel or the timeout.
    fn gesture(
        &mut self,
        request: &PresenceRequest<'_>,
        signals: &Signals,
        verification: bool,
    ) -> Result<(), PresenceError> {
        let started = Instant::now();
        if let Some((events, id)) = &self.events {
            let rp = match request.requester {
                Requester::Rp(rp) => Some(rp.to_owned()),
                _ => None,
            };
            events.push(
                id,
                "promptShown",
                serde_json::json!({
                    "operation": request.operation.to_string(),
                    "rpId": rp,
                    "userVerification": verification,
                }),
            );
        }
        let mut state = self.lock();
        state.waiting += 1;
        self.shared.1.notify_all();
        let answer = loop {
            let policy = state.policy;
            if policy.automatic {
                break if policy.consenting {
                    Ok(())
                } else {
                    Err(PresenceError::Denied)
                };
            }
            if state.touches > 0 {
                state.touches -= 1;
                break Ok(());
            }
            if signals.is_cancelled() {
                break Err(PresenceError::Cancelled);
            }
            if started.elapsed() >= PROMPT_TIMEOUT {
                break Err(PresenceError::Timeout);
            }
            state = self
                .shared
                .1
                .wait_timeout(state, POLL)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        };
        state.waiting -= 1;
        tracing::debug!(op = %request.operation, ?answer, "lab presence");
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use softkey_authenticator::Operation;

    fn request() -> PresenceRequest<'static> {
        PresenceRequest {
            operation: Operation::SignIn,
            requester: Requester::Rp("example.com"),
            user_name: None,
            user_display_name: None,
        }
    }

    #[test]
    fn consent_deny_and_a_touch_for_a_waiting_prompt() {
        let signals = Signals::new();
        let mut presence = LabPresence::new(PresencePolicy {
            consenting: true,
            automatic: true,
            verified: false,
        });
        assert_eq!(presence.verify(&request(), &signals), Ok(false));
        assert_eq!(presence.ask(&request(), &signals), Ok(()));
        presence.set_policy(PresencePolicy {
            consenting: false,
            automatic: true,
            verified: true,
        });
        assert_eq!(
            presence.verify(&request(), &signals),
            Err(PresenceError::Denied)
        );
        assert_eq!(
            presence.ask(&request(), &signals),
            Err(PresenceError::Denied)
        );

        presence.set_policy(PresencePolicy {
            consenting: true,
            automatic: false,
            verified: true,
        });
        let toucher = presence.clone();
        let touched = std::thread::spawn(move || toucher.touch());
        assert_eq!(presence.ask(&request(), &signals), Ok(()));
        assert!(touched.join().unwrap());

        let waiting = presence.clone();
        let cancel = signals.clone();
        let prompt = std::thread::spawn(move || {
            let mut waiting = waiting;
            waiting.ask(&request(), &cancel)
        });
        std::thread::sleep(Duration::from_millis(100));
        signals.cancel();
        assert_eq!(prompt.join().unwrap(), Err(PresenceError::Cancelled));
    }
}
