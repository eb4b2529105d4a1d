//! What the lab's authenticators did, for assertions in tests: the CDP
//! `WebAuthn` event names (`credentialAdded`, `credentialAsserted`,
//! `credentialDeleted`, `credentialUpdated`) and two of softkey's own
//! (`promptShown`, `pinTried`). Each event has a sequence number; a test
//! reads the events after the last number it saw, waiting for the next one
//! if there is none yet (`GET /webauthn/events?after=N&wait=S`).
//!
//! The events are read off each answer the authenticator gave (its command
//! byte, status and CBOR), never from inside it: the key under test is the
//! key `softkey serve` runs.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use softkey_authenticator::cbor::{self, Value as Cbor};

/// The oldest events go past this many.
const KEPT: usize = 10_000;

/// The lab's event log.
#[derive(Debug, Default)]
pub struct EventLog {
    state: Mutex<(u64, VecDeque<Value>)>,
    added: Condvar,
}

impl EventLog {
    /// Records an event of `kind` for `authenticator`.
    pub fn push(&self, authenticator: &str, kind: &str, details: Value) {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.0 += 1;
        let event = json!({
            "sequence": state.0,
            "time": millis,
            "authenticatorId": authenticator,
            "type": kind,
            "details": details,
        });
        state.1.push_back(event);
        while state.1.len() > KEPT {
            state.1.pop_front();
        }
        self.added.notify_all();
    }

    /// The events after sequence number `after`, waiting up to `wait` for
    /// one if there are none yet; and the number to ask after next.
    pub fn after(&self, after: u64, wait: Duration) -> (Vec<Value>, u64) {
        let deadline = Instant::now() + wait;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        while state.0 <= after {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = self
                .added
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let events: Vec<Value> = state
            .1
            .iter()
            .filter(|e| e["sequence"].as_u64().is_some_and(|s| s > after))
            .cloned()
            .collect();
        (events, state.0)
    }
}

/// The event a CTAP2 request and its answer make, if any: (type, details).
pub fn of_exchange(request: &[u8], response: &[u8]) -> Option<(&'static str, Value)> {
    let (&command, params) = request.split_first()?;
    let (&status, body) = response.split_first()?;
    let answer = || cbor::decode(body).ok();
    let request = || cbor::decode(params).ok();
    match (command, status) {
        // authenticatorMakeCredential: the new credential's ID in authData.
        (0x01, 0x00) => {
            let answer = answer()?;
            let Some(Cbor::Bytes(auth_data)) = answer.get(&Cbor::Unsigned(2)) else {
                return None;
            };
            let length = usize::from(u16::from_be_bytes([
                *auth_data.get(53)?,
                *auth_data.get(54)?,
            ]));
            let id = auth_data.get(55..55 + length)?;
            Some((
                "credentialAdded",
                json!({ "credentialId": URL_SAFE_NO_PAD.encode(id) }),
            ))
        }
        // authenticatorGetAssertion, authenticatorGetNextAssertion.
        (0x02 | 0x08, 0x00) => {
            let answer = answer()?;
            let descriptor = answer.get(&Cbor::Unsigned(1))?;
            let Some(Cbor::Bytes(id)) = descriptor.get(&Cbor::Text("id".into())) else {
                return None;
            };
            let sign_count = match answer.get(&Cbor::Unsigned(2)) {
                Some(Cbor::Bytes(a)) => a
                    .get(33..37)
                    .and_then(|c| <[u8; 4]>::try_from(c).ok())
                    .map(u32::from_be_bytes),
                _ => None,
            };
            Some((
                "credentialAsserted",
                json!({ "credentialId": URL_SAFE_NO_PAD.encode(id), "signCount": sign_count }),
            ))
        }
        // clientPIN getPinToken / getPinUvAuthTokenUsingPinWithPermissions.
        (0x06, status) => {
            let sub = request()?.get(&Cbor::Unsigned(2)).cloned();
            if !matches!(sub, Some(Cbor::Unsigned(5 | 9))) {
                return None;
            }
            let result = match status {
                0x00 => "accepted",
                0x31 => "wrong",
                0x32 | 0x34 => "blocked",
                _ => return None,
            };
            Some(("pinTried", json!({ "result": result })))
        }
        // credentialManagement deleteCredential (0x06), updateUserInformation (0x07).
        (0x0A, 0x00) => {
            let request = request()?;
            let kind = match request.get(&Cbor::Unsigned(1)) {
                Some(Cbor::Unsigned(6)) => "credentialDeleted",
                Some(Cbor::Unsigned(7)) => "credentialUpdated",
                _ => return None,
            };
            let descriptor = request.get(&Cbor::Unsigned(2))?.get(&Cbor::Unsigned(2))?;
            let Some(Cbor::Bytes(id)) = descriptor.get(&Cbor::Text("id".into())) else {
                return None;
            };
            Some((kind, json!({ "credentialId": URL_SAFE_NO_PAD.encode(id) })))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_numbered_and_read_after_a_number() {
        let log = EventLog::default();
        assert_eq!(log.after(0, Duration::ZERO), (vec![], 0));
        log.push("1-1", "credentialAdded", json!({}));
        log.push("1-2", "promptShown", json!({}));
        let (events, next) = log.after(1, Duration::ZERO);
        assert_eq!(next, 2);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0]["type"], "promptShown");
        assert_eq!(events[0]["authenticatorId"], "1-2");
    }

    #[test]
    fn exchanges_name_their_event() {
        let pin = |status: u8| {
            let request = [
                &[0x06][..],
                &cbor::encode(&Cbor::int_map(vec![(2, Cbor::Unsigned(9))])),
            ]
            .concat();
            of_exchange(&request, &[status])
                .map(|(kind, details)| (kind, details["result"].clone()))
        };
        assert_eq!(pin(0x31), Some(("pinTried", json!("wrong"))));
        assert_eq!(pin(0x00), Some(("pinTried", json!("accepted"))));
        assert_eq!(of_exchange(&[0x04], &[0x00]), None, "getInfo is no event");
        assert_eq!(of_exchange(&[], &[]), None);
    }
}
