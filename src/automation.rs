//! The FIDO Conformance Tools' automation endpoint (`softkey serve
//! --ephemeral --conformance-automation`), so the official tool runs
//! unattended against softkey. The tool (1.7.25 and later) POSTs to
//! `http://localhost:3000`:
//!
//! - `/conformance/userpresence`: the touch it would ask a person for. It
//!   approves the test of presence waiting, or the next one to open within
//!   10 s; 409 if none did (the tool counts only 2xx as done).
//! - `/conformance/powercycle`: an unplug and replug. The key's volatile
//!   state is dropped as a real power cycle drops it (key agreement keys,
//!   pinUvAuthTokens, the PIN mismatch count; reset's 10 s window starts
//!   again) before it handles the next request, which is what the tool
//!   sends after a power cycle. The USB/IP connection stays, so the tool's
//!   open device stays valid.
//! - `/conformance/results`: the run's results (JSON with
//!   passedTestsCount, failedTestsCount, failedTests), printed as a line and
//!   kept for `GET /conformance/results`.
//!
//! setPIN, which softkey otherwise confirms with a touch (SECURITY.md "The
//! CTAP PIN"), is approved without one here: CTAP asks for no presence there,
//! so the tool sends no userpresence for it.
//!
//! The tool sends no credentials, so anyone who can reach the endpoint can
//! approve presence on this key: it binds loopback only and exists only
//! for an ephemeral key (SECURITY.md).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, Result};
use serde_json::{Value, json};
use softkey_transport::{MessageHandler, Refusal, Request, RequestKind, Signals, Winker};

use softkey_authenticator::{Operation, PresenceError, PresenceRequest};

use crate::key::Key;
use crate::lab::http::{self, Response};
use crate::lab::presence::LabPresence;
use crate::presence::PresenceProvider;

/// What the endpoint shares with the key: the prompt it approves, the
/// power cycle it asks for, the last results.
#[derive(Debug, Clone)]
pub struct Automation {
    presence: LabPresence,
    power_cycle: Arc<AtomicBool>,
    results: Arc<Mutex<Option<Value>>>,
}

impl Automation {
    /// A presence that waits for `/conformance/userpresence`, and nothing
    /// asked yet.
    pub fn new() -> Self {
        Automation {
            presence: LabPresence::new(crate::lab::presence::PresencePolicy {
                consenting: true,
                automatic: false,
                verified: false,
            }),
            power_cycle: Arc::new(AtomicBool::new(false)),
            results: Arc::new(Mutex::new(None)),
        }
    }

    /// The key's presence provider.
    pub fn presence(&self) -> AutomationPresence {
        AutomationPresence(self.presence.clone())
    }

    /// Serves the endpoint on `addr` (loopback only) on a thread of its own;
    /// the address it listens on.
    pub fn serve(&self, addr: SocketAddr) -> Result<SocketAddr> {
        let listener = http::bind(addr).with_context(|| {
            format!("cannot listen on {addr} for the conformance automation endpoint")
        })?;
        let local = listener.local_addr()?;
        let me = self.clone();
        std::thread::Builder::new()
            .name("conformance-automation".into())
            .spawn(move || http::serve(listener, None, move |request| me.handle(&request)))
            .context("cannot start the conformance automation endpoint")?;
        Ok(local)
    }

    fn handle(&self, request: &http::Request) -> Response {
        let ok = |body: Value| Response { status: 200, body };
        match (request.method.as_str(), request.path.as_str()) {
            ("POST", "/conformance/userpresence") => {
                if self.presence.touch() {
                    tracing::info!("conformance tool: user presence given");
                    ok(json!({"status": "ok"}))
                } else {
                    http::error(409, "no prompt", "no test of presence opened within 10 s")
                }
            }
            ("POST", "/conformance/powercycle") => {
                self.power_cycle.store(true, Ordering::SeqCst);
                tracing::info!("conformance tool: power cycle");
                ok(json!({"status": "ok"}))
            }
            ("POST", "/conformance/results") => {
                let Ok(results) = serde_json::from_slice::<Value>(&request.body) else {
                    return http::error(400, "invalid argument", "the results are not JSON");
                };
                println!(
                    "softkey: the FIDO conformance tool reports {}",
                    summary(&results)
                );
                *self.results.lock().unwrap_or_else(PoisonError::into_inner) = Some(results);
                ok(json!({"status": "ok"}))
            }
            ("GET", "/conformance/results") => {
                let results = self
                    .results
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                ok(results.unwrap_or(Value::Null))
            }
            _ => http::error(404, "unknown command", "not a conformance automation path"),
        }
    }
}

impl Default for Automation {
    fn default() -> Self {
        Self::new()
    }
}

/// Presence as the tool gives it: its userpresence for every test of
/// presence CTAP asks for; setPIN's (softkey's own) approved at once.
#[derive(Debug, Clone)]
pub struct AutomationPresence(LabPresence);

impl PresenceProvider for AutomationPresence {
    fn ask(
        &mut self,
        request: &PresenceRequest<'_>,
        signals: &Signals,
    ) -> Result<(), PresenceError> {
        if request.operation == Operation::SetPin {
            tracing::info!("setPIN approved: the conformance tool gives no touch for it");
            return Ok(());
        }
        self.0.ask(request, signals)
    }
}

/// "12 passed, 1 failed (…)" from the tool's results.
fn summary(results: &Value) -> String {
    let count = |k: &str| results.get(k).and_then(Value::as_u64).unwrap_or(0);
    let failed: Vec<String> = results
        .get("failedTests")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|t| t.to_string()).collect())
        .unwrap_or_default();
    let mut line = format!(
        "{} passed, {} failed",
        count("passedTestsCount"),
        count("failedTestsCount")
    );
    if !failed.is_empty() {
        line.push_str(&format!(": {}", failed.join(", ")));
    }
    line
}

/// The served key, cycled before a request when the endpoint asked.
pub struct AutomatedKey {
    key: Key,
    power_cycle: Arc<AtomicBool>,
}

impl std::fmt::Debug for AutomatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AutomatedKey").finish_non_exhaustive()
    }
}

impl AutomatedKey {
    pub fn new(key: Key, automation: &Automation) -> Self {
        AutomatedKey {
            key,
            power_cycle: Arc::clone(&automation.power_cycle),
        }
    }

    fn cycle_if_asked(&mut self) {
        if self.power_cycle.swap(false, Ordering::SeqCst) {
            self.key.power_cycle();
        }
    }
}

impl MessageHandler for AutomatedKey {
    fn handle(&mut self, request: Request, signals: &Signals) -> Vec<u8> {
        self.cycle_if_asked();
        self.key.handle(request, signals)
    }

    fn refusal(&self, kind: RequestKind, why: Refusal) -> Vec<u8> {
        self.key.refusal(kind, why)
    }

    fn attached(&mut self) {
        self.power_cycle.store(false, Ordering::SeqCst);
        self.key.attached();
    }

    fn detached(&mut self) {
        self.key.detached();
    }

    fn winker(&self) -> Option<Winker> {
        self.key.winker()
    }
}
