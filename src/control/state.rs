//! What `softkey serve` shares with its control socket: facts about the
//! server, what the host did, and the one presence request waiting for the
//! user (the transport serialises requests, so there is never more than one).
//!
//! The key opens a [`Ticket`] for every presence prompt; `softkey pending`
//! lists it whatever the presence mode. Only `--presence socket` takes
//! answers from the socket ([`ControlState::answer`]).

use std::net::SocketAddr;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::ValueEnum;
use softkey_authenticator::{Operation, PresenceError, PresenceRequest, Requester};
use softkey_transport::Signals;

use super::protocol::{ErrorCode, HostInfo, PendingInfo, StatusInfo};
use crate::cli::PresenceMode;
use crate::prompt_text::describe;
use crate::text::unix_now;

/// How often a waiting prompt looks for a cancel; well under the 100 ms
/// keepalive period so the platform sees the prompt close promptly.
const POLL: Duration = Duration::from_millis(20);

/// What `serve` knows before it starts.
#[derive(Debug, Clone)]
pub struct ServeFacts {
    pub presence: PresenceMode,
    pub prompt_timeout: Duration,
    /// The vault path, or `ephemeral`.
    pub vault: String,
    pub bus_id: String,
    pub control_socket: String,
}

#[derive(Debug)]
pub struct ControlState {
    facts: ServeFacts,
    started_at: SystemTime,
    started: Instant,
    inner: Mutex<Inner>,
    /// Signalled whenever a request opens, is answered or closes.
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Inner {
    listen: Option<SocketAddr>,
    attaches: u64,
    last_attached_at: Option<u64>,
    /// A host holds the device now (the transport reports attach and detach).
    attached: bool,
    pending: Option<Pending>,
    /// Ids already handed out are below this one.
    next_id: u64,
}

#[derive(Debug)]
struct Pending {
    id: u64,
    operation: Operation,
    requester: &'static str,
    rp_id: String,
    user_name: Option<String>,
    user_display_name: Option<String>,
    prompt: String,
    deadline: Instant,
    answer: Option<bool>,
}

/// Why `approve` / `deny` could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerError {
    pub code: ErrorCode,
    pub message: String,
}

/// One open prompt; closing it (drop) takes it off the pending list.
#[derive(Debug)]
pub struct Ticket<'a> {
    state: &'a ControlState,
    pub id: u64,
}

impl ControlState {
    pub fn new(facts: ServeFacts) -> Self {
        Self {
            facts,
            started_at: SystemTime::now(),
            started: Instant::now(),
            inner: Mutex::new(Inner {
                next_id: 1,
                ..Inner::default()
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic on a control thread must not take the key down with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn prompt_timeout(&self) -> Duration {
        self.facts.prompt_timeout
    }

    pub fn set_listening(&self, addr: SocketAddr) {
        self.lock().listen = Some(addr);
    }

    /// A host imported the device (USB/IP OP_REQ_IMPORT).
    pub fn host_attached(&self) {
        let mut inner = self.lock();
        inner.attaches = inner.attaches.saturating_add(1);
        inner.last_attached_at = Some(unix_now());
        inner.attached = true;
    }

    pub fn host_detached(&self) {
        self.lock().attached = false;
    }

    /// Publishes a presence request with a new id until the ticket drops.
    pub fn open(&self, request: &PresenceRequest<'_>, timeout: Duration) -> Ticket<'_> {
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id = inner.next_id.saturating_add(1);
        inner.pending = Some(Pending {
            id,
            operation: request.operation,
            requester: match request.requester {
                Requester::Rp(_) => "rp",
                Requester::U2fApplication(_) => "u2f",
                Requester::Device => "device",
            },
            rp_id: match request.requester {
                Requester::Rp(id) => id.to_owned(),
                _ => String::new(),
            },
            user_name: request.user_name.map(str::to_owned),
            user_display_name: request.user_display_name.map(str::to_owned),
            prompt: describe(request),
            deadline: Instant::now() + timeout,
            answer: None,
        });
        self.changed.notify_all();
        Ticket { state: self, id }
    }

    /// The id of the open prompt, if any.
    pub fn current_id(&self) -> Option<u64> {
        self.lock().pending.as_ref().map(|p| p.id)
    }

    /// Waits for `approve` / `deny` on request `id`, a cancel or its deadline.
    pub fn wait_answer(&self, id: u64, signals: &Signals) -> Result<(), PresenceError> {
        let mut inner = self.lock();
        loop {
            // CTAP 2.1 §11.2.9.1.5: CANCEL ends the wait at once.
            if signals.is_cancelled() {
                return Err(PresenceError::Cancelled);
            }
            let Some(pending) = inner.pending.as_ref().filter(|p| p.id == id) else {
                // Closed under us (cannot happen while the ticket lives): refuse.
                return Err(PresenceError::Denied);
            };
            match pending.answer {
                Some(true) => return Ok(()),
                Some(false) => return Err(PresenceError::Denied),
                None => {}
            }
            let left = pending.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(PresenceError::Timeout);
            }
            inner = self
                .changed
                .wait_timeout(inner, left.min(POLL))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// `approve` (true) or `deny` (false) the request `id`, or the one waiting.
    /// Answers the waiting request (the one named, when `id` is given);
    /// returns its id and its prompt line, to echo what was answered.
    pub fn answer(&self, id: Option<u64>, approve: bool) -> Result<(u64, String), AnswerError> {
        let error = |code, message: String| AnswerError { code, message };
        if self.facts.presence != PresenceMode::Socket {
            return Err(error(
                ErrorCode::WrongPresenceMode,
                wrong_mode_message(self.facts.presence),
            ));
        }
        let mut inner = self.lock();
        let next_id = inner.next_id;
        let Some(pending) = inner.pending.as_mut() else {
            return Err(match id {
                Some(id) => error(ErrorCode::UnknownId, gone_message(id, next_id)),
                None => error(
                    ErrorCode::NothingPending,
                    "nothing is waiting for approval".into(),
                ),
            });
        };
        if let Some(id) = id.filter(|&id| id != pending.id) {
            return Err(error(
                ErrorCode::UnknownId,
                format!(
                    "{} (request {} is waiting)",
                    gone_message(id, next_id),
                    pending.id
                ),
            ));
        }
        if pending.answer.is_some() {
            return Err(error(
                ErrorCode::UnknownId,
                format!("request {} was already answered", pending.id),
            ));
        }
        pending.answer = Some(approve);
        let answered = (pending.id, pending.prompt.clone());
        self.changed.notify_all();
        Ok(answered)
    }

    /// The waiting request, as a list (empty or one).
    pub fn pending(&self) -> Vec<PendingInfo> {
        self.lock()
            .pending
            .iter()
            .filter_map(Pending::waiting)
            .collect()
    }

    /// Like [`ControlState::pending`], but first waits up to `timeout` for one.
    pub fn wait_pending(&self, timeout: Duration) -> Vec<PendingInfo> {
        let inner = self.lock();
        let (inner, _) = self
            .changed
            .wait_timeout_while(inner, timeout, |i| {
                i.pending.as_ref().is_none_or(|p| p.answer.is_some())
            })
            .unwrap_or_else(|e| e.into_inner());
        inner.pending.iter().filter_map(Pending::waiting).collect()
    }

    pub fn status(&self) -> StatusInfo {
        let inner = self.lock();
        let attached = inner.attached;
        StatusInfo {
            softkey_version: env!("CARGO_PKG_VERSION").into(),
            pid: std::process::id(),
            state: if inner.listen.is_some() {
                "serving"
            } else {
                "starting"
            }
            .into(),
            listen: inner.listen.map(|a| a.to_string()),
            bus_id: self.facts.bus_id.clone(),
            presence: mode_name(self.facts.presence),
            prompt_timeout_secs: self.facts.prompt_timeout.as_secs(),
            vault: self.facts.vault.clone(),
            control_socket: self.facts.control_socket.clone(),
            started_at: self
                .started_at
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            uptime_secs: self.started.elapsed().as_secs(),
            host: HostInfo {
                attached,
                attaches: inner.attaches,
                last_attached_at: inner.last_attached_at,
            },
            pending: inner.pending.as_ref().and_then(Pending::waiting),
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut inner = self.state.lock();
        if inner.pending.as_ref().is_some_and(|p| p.id == self.id) {
            inner.pending = None;
            self.state.changed.notify_all();
        }
    }
}

impl Pending {
    /// Its description, unless it has been answered (and is about to close).
    fn waiting(&self) -> Option<PendingInfo> {
        if self.answer.is_some() {
            return None;
        }
        Some(PendingInfo {
            id: self.id,
            operation: operation_code(self.operation).into(),
            requester: self.requester.into(),
            rp_id: self.rp_id.clone(),
            user_name: self.user_name.clone(),
            user_display_name: self.user_display_name.clone(),
            prompt: self.prompt.clone(),
            seconds_left: self
                .deadline
                .saturating_duration_since(Instant::now())
                .as_secs(),
        })
    }
}

/// The `--presence` value as the flag spells it.
pub fn mode_name(mode: PresenceMode) -> String {
    mode.to_possible_value()
        .map_or_else(|| format!("{mode:?}"), |v| v.get_name().to_owned())
}

fn operation_code(operation: Operation) -> &'static str {
    match operation {
        Operation::Register => "register",
        Operation::SignIn => "sign-in",
        Operation::Reset => "reset",
        Operation::Select => "select",
        Operation::ManageCredentials => "manage-credentials",
        Operation::SetPin => "set-pin",
    }
}

pub fn wrong_mode_message(mode: PresenceMode) -> String {
    let how = match mode {
        PresenceMode::Tty => "asks on its terminal",
        PresenceMode::Notify => "asks with a desktop notification",
        PresenceMode::Auto => "approves every request by itself",
        PresenceMode::Deny => "refuses every request by itself",
        PresenceMode::Socket => "takes answers here",
    };
    format!(
        "this key {how} (--presence {}); restart it with `softkey serve --presence socket` to \
         answer from another terminal",
        mode_name(mode)
    )
}

fn gone_message(id: u64, next_id: u64) -> String {
    if id < next_id {
        format!("request {id} is no longer waiting (it was answered, timed out or was cancelled)")
    } else {
        format!("there is no request {id}")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::thread;

    use super::*;

    fn state(presence: PresenceMode) -> Arc<ControlState> {
        Arc::new(ControlState::new(ServeFacts {
            presence,
            prompt_timeout: Duration::from_secs(30),
            vault: "ephemeral".into(),
            bus_id: "1-1".into(),
            control_socket: "/tmp/x".into(),
        }))
    }

    const REQUEST: PresenceRequest<'static> = PresenceRequest {
        operation: Operation::SignIn,
        requester: Requester::Rp("github.com"),
        user_name: Some("alice"),
        user_display_name: None,
    };

    #[test]
    fn an_approval_from_another_thread_ends_the_wait() {
        let state = state(PresenceMode::Socket);
        let ticket = state.open(&REQUEST, Duration::from_secs(30));
        let listed = state.pending();
        assert_eq!(listed.len(), 1);
        assert_eq!(
            listed.first().map(|p| p.operation.as_str()),
            Some("sign-in")
        );
        let other = Arc::clone(&state);
        let approver = thread::spawn(move || {
            let seen = other.wait_pending(Duration::from_secs(5));
            other.answer(seen.first().map(|p| p.id), true)
        });
        assert_eq!(state.wait_answer(ticket.id, &Signals::new()), Ok(()));
        assert_eq!(
            approver.join().ok().map(|r| r.map(|(id, _)| id)),
            Some(Ok(ticket.id))
        );
        drop(ticket);
        assert!(state.pending().is_empty());
    }

    #[test]
    fn deny_timeout_and_cancel() {
        let state = state(PresenceMode::Socket);
        let ticket = state.open(&REQUEST, Duration::from_secs(30));
        assert_eq!(
            state.answer(None, false),
            Ok((
                ticket.id,
                "\"github.com\" asks to sign in as \"alice\"".to_owned()
            ))
        );
        assert_eq!(
            state.wait_answer(ticket.id, &Signals::new()),
            Err(PresenceError::Denied)
        );
        drop(ticket);

        let ticket = state.open(&REQUEST, Duration::from_millis(50));
        assert_eq!(
            state.wait_answer(ticket.id, &Signals::new()),
            Err(PresenceError::Timeout)
        );
        drop(ticket);

        let ticket = state.open(&REQUEST, Duration::from_secs(30));
        let signals = Signals::new();
        signals.cancel();
        assert_eq!(
            state.wait_answer(ticket.id, &signals),
            Err(PresenceError::Cancelled)
        );
    }

    #[test]
    fn wrong_ids_and_modes_are_explained() {
        let state = state(PresenceMode::Socket);
        let nothing = state.answer(None, true).err().map(|e| e.code);
        assert_eq!(nothing, Some(ErrorCode::NothingPending));
        let first = state.open(&REQUEST, Duration::from_secs(30));
        let wrong = state.answer(Some(first.id + 5), true).err();
        assert_eq!(wrong.as_ref().map(|e| e.code), Some(ErrorCode::UnknownId));
        assert!(wrong.is_some_and(|e| e.message.contains("is waiting")));
        let old = first.id;
        drop(first);
        let gone = state.answer(Some(old), true).err();
        assert!(gone.is_some_and(|e| e.message.contains("no longer waiting")));

        let tty = self::state(PresenceMode::Tty);
        let _ticket = tty.open(&REQUEST, Duration::from_secs(30));
        let refused = tty.answer(None, true).err();
        assert_eq!(
            refused.as_ref().map(|e| e.code),
            Some(ErrorCode::WrongPresenceMode)
        );
        assert!(
            refused.is_some_and(|e| e.message.contains("asks on its terminal (--presence tty)"))
        );
        assert_eq!(tty.pending().len(), 1, "pending shows every mode's prompt");
    }
}
