//! The lab's virtual authenticators: each a complete softkey key (the same
//! authenticator, CTAPHID and USB/IP device as `softkey serve`) on an
//! ephemeral memory store, exported as its own USB device with its own bus
//! id, so a host attaches each separately (`usbip attach -b 1-N`). The
//! authenticator id of the W3C API is that bus id.
//!
//! Lab authenticators never touch a vault: they exist for tests and vanish
//! with the process.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use softkey_authenticator::{
    Algorithm, AttestationMode, CounterMode, CtapVersion, ExtensionSet, MemoryStore,
    ResponseOverrides, attestation_ca_pem, factory_reset, provision_pin,
    provision_test_attestation, remove_pin, set_always_uv, set_attestation_mode, set_pin_retries,
};
use softkey_transport::{
    DeviceConfig, Exports, MessageHandler, Refusal, Request, RequestKind, Signals, Winker,
};

use super::events::{self, EventLog};
use super::presence::{LabPresence, PresencePolicy};
use crate::key::Key;
use crate::store::Backing;

/// Bus 1, as `softkey serve`; device numbers from 2 up, as Linux gives them.
const BUSNUM: u32 = 1;
/// At most this many lab authenticators at once (a bus has 127 addresses).
pub const MAX_AUTHENTICATORS: u32 = 126;

/// What a lab authenticator was created with (the W3C / CDP option names
/// that this lab honours; see `options.rs`).
#[derive(Debug, Clone)]
pub struct Options {
    pub algorithms: Vec<Algorithm>,
    /// `isUserConsenting` and `automaticPresenceSimulation`.
    pub presence: PresencePolicy,
    /// How new credentials count (softkey `counter`; per credential by
    /// default, as the W3C virtual authenticator counts).
    pub counter_mode: CounterMode,
    /// softkey `attestation`: packed self (the default), batch, fido-u2f,
    /// apple or android-key, under this authenticator's own test CA.
    pub attestation: AttestationMode,
    /// softkey `aaguid`: in authenticator data and the certificates.
    pub aaguid: [u8; 16],
    /// `defaultBackupEligibility`, `defaultBackupState`.
    pub backup_eligible: bool,
    pub backup_state: bool,
    /// W3C `protocol` / CDP `ctap2Version`.
    pub ctap_version: CtapVersion,
    /// W3C `extensions`, CDP `hasLargeBlob`, `hasCredBlob`, … .
    pub extensions: ExtensionSet,
    /// W3C / CDP `transport`, declared in getInfo.
    pub transport: String,
    /// W3C `ctap1/u2f`, CDP `u2f`: CTAPHID offers no CBOR; U2F only.
    pub u2f_only: bool,
    /// W3C / CDP `hasUserVerification`: built-in UV, which matches as
    /// the presence policy's `isUserVerified` says.
    pub built_in_uv: bool,
    /// softkey `alwaysUv` (CTAP 2.1 §7.2.3) from the start.
    pub always_uv: bool,
    /// W3C / CDP `hasResidentKey`: whether it stores discoverable credentials.
    pub resident_keys: bool,
}

/// Faults the transport-facing handler injects (`…/faults`).
#[derive(Debug, Default)]
pub struct Faults {
    /// CTAP status bytes that answer the next CBOR requests, one each,
    /// instead of the key.
    pub next_statuses: VecDeque<u8>,
    /// How long every request waits before the key sees it (a cancel ends
    /// the wait with CTAP2_ERR_KEEPALIVE_CANCEL).
    pub delay: Duration,
    /// No KEEPALIVE while a request is processed.
    pub withhold_keepalives: bool,
}

/// One lab authenticator.
struct LabAuthenticator {
    key: Arc<Mutex<Key>>,
    faults: Arc<Mutex<Faults>>,
    presence: LabPresence,
    options: Options,
}

/// Every lab authenticator, by id.
pub struct Lab {
    exports: Exports,
    authenticators: Mutex<BTreeMap<String, LabAuthenticator>>,
    /// What they did (`events.rs`).
    pub events: Arc<EventLog>,
}

/// Why a lab operation failed: the W3C error code and a message.
#[derive(Debug, PartialEq, Eq)]
pub struct LabError {
    pub not_found: bool,
    pub message: String,
}

impl LabError {
    pub(super) fn invalid(message: impl Into<String>) -> Self {
        LabError {
            not_found: false,
            message: message.into(),
        }
    }

    fn no_authenticator(id: &str) -> Self {
        LabError {
            not_found: true,
            message: format!("no lab authenticator {id:?}"),
        }
    }
}

impl std::fmt::Debug for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lab")
            .field("authenticators", &self.table().keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Lab {
    pub fn new(exports: Exports) -> Self {
        Lab {
            exports,
            authenticators: Mutex::new(BTreeMap::new()),
            events: Arc::new(EventLog::default()),
        }
    }

    fn table(&self) -> MutexGuard<'_, BTreeMap<String, LabAuthenticator>> {
        self.authenticators
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates an authenticator and exports it; returns its id (bus id).
    pub fn add(&self, options: Options) -> Result<String, LabError> {
        let mut table = self.table();
        let devnum = (2..2 + MAX_AUTHENTICATORS)
            .find(|n| !table.contains_key(&bus_id(*n)))
            .ok_or_else(|| LabError::invalid("the lab serves 126 authenticators at most"))?;
        let id = bus_id(devnum);
        let mut store = Backing::Memory(MemoryStore::default());
        // Its own test CA, kept so that it can certify credentials (apple,
        // android-key), naming the AAGUID the tester chose.
        let mut random = |buf: &mut [u8]| {
            // No key is made without the OS RNG.
            #[allow(clippy::expect_used)]
            getrandom::fill(buf).expect("the operating system's random number generator failed");
        };
        provision_test_attestation(&mut store, &mut random, options.aaguid)
            .map_err(|e| LabError::invalid(e.to_string()))?;
        set_attestation_mode(&mut store, options.attestation)
            .map_err(|e| LabError::invalid(e.to_string()))?;
        if options.always_uv {
            set_always_uv(&mut store, true)
                .map_err(|e| LabError::invalid(format!("{:?}", e.status())))?;
        }
        let presence =
            LabPresence::new(options.presence).with_events(Arc::clone(&self.events), id.clone());
        let config = softkey_authenticator::Config {
            algorithms: options.algorithms.clone(),
            aaguid: options.aaguid,
            counter_mode: options.counter_mode,
            backup_eligible: options.backup_eligible,
            backup_state: options.backup_state,
            ctap_version: options.ctap_version,
            extensions: options.extensions,
            transports: vec![options.transport.clone()],
            built_in_uv: options.built_in_uv,
            resident_keys: options.resident_keys,
            ..Default::default()
        };
        let key = Arc::new(Mutex::new(Key::new(
            store,
            Box::new(presence.clone()),
            config,
        )));
        let faults = Arc::new(Mutex::new(Faults::default()));
        let device = DeviceConfig {
            bus_id: id.clone(),
            busnum: BUSNUM,
            devnum,
            cbor: !options.u2f_only,
            ..DeviceConfig::new(format!("LAB{devnum:04}"))
        };
        self.exports
            .add(
                device,
                SharedKey {
                    key: Arc::clone(&key),
                    faults: Arc::clone(&faults),
                    events: Arc::clone(&self.events),
                    id: id.clone(),
                },
            )
            .map_err(|e| LabError::invalid(e.to_string()))?;
        table.insert(
            id.clone(),
            LabAuthenticator {
                key,
                faults,
                presence,
                options,
            },
        );
        Ok(id)
    }

    /// Removes an authenticator: a host that attached it sees it unplugged.
    pub fn remove(&self, id: &str) -> Result<(), LabError> {
        let mut table = self.table();
        table
            .remove(id)
            .ok_or_else(|| LabError::no_authenticator(id))?;
        self.exports.remove(id);
        Ok(())
    }

    /// The authenticators, with their options.
    pub fn list(&self) -> Vec<(String, Options)> {
        self.table()
            .iter()
            .map(|(id, a)| {
                let mut options = a.options.clone();
                // The live policy, which the API may have changed since.
                options.presence = a.presence.policy();
                (id.clone(), options)
            })
            .collect()
    }

    /// Changes `isUserConsenting` and `automaticPresenceSimulation`:
    /// `change` edits the current policy.
    pub fn set_presence(
        &self,
        id: &str,
        change: impl FnOnce(&mut PresencePolicy),
    ) -> Result<(), LabError> {
        let table = self.table();
        let a = table
            .get(id)
            .ok_or_else(|| LabError::no_authenticator(id))?;
        let mut policy = a.presence.policy();
        change(&mut policy);
        a.presence.set_policy(policy);
        Ok(())
    }

    /// A touch: approves the prompt this authenticator shows (waiting up
    /// to 10 s for one).
    pub fn touch(&self, id: &str) -> Result<(), LabError> {
        let presence = {
            let table = self.table();
            table
                .get(id)
                .ok_or_else(|| LabError::no_authenticator(id))?
                .presence
                .clone()
        };
        if presence.touch() {
            Ok(())
        } else {
            Err(LabError::invalid(
                "no test of user presence was waiting for a touch",
            ))
        }
    }

    /// Sets the PIN (`Some`) or removes it (`None`), then power-cycles the
    /// key, as the PIN scripts of RP test suites do to a key between tests.
    pub fn set_pin(&self, id: &str, pin: Option<&str>) -> Result<(), LabError> {
        self.with_key(id, |key| {
            let result = key.change_store(|store| match pin {
                Some(pin) => provision_pin(store, pin),
                None => remove_pin(store),
            });
            key.power_cycle();
            result.map_err(|e| LabError::invalid(format!("{:?}", e.status())))
        })?
    }

    /// Sets pinRetries (0–8) of a key with a PIN.
    pub fn set_pin_retries(&self, id: &str, left: u8) -> Result<(), LabError> {
        self.with_key(id, |key| {
            let result = key.change_store(|store| set_pin_retries(store, left));
            key.power_cycle();
            result.map_err(|e| LabError::invalid(format!("{:?}", e.status())))
        })?
    }

    /// authenticatorReset without the touch and the 10 s window: every
    /// credential, the PIN and the settings gone.
    pub fn reset(&self, id: &str) -> Result<(), LabError> {
        self.with_key(id, |key| {
            let result = key.change_store(factory_reset);
            key.power_cycle();
            result.map_err(|e| LabError::invalid(format!("{:?}", e.status())))
        })?
    }

    /// The authenticator's attestation CA (PEM): the trust anchor an RP
    /// needs for its batch attestations.
    pub fn attestation_ca(&self, id: &str) -> Result<String, LabError> {
        self.with_key(id, |key| attestation_ca_pem(key.store()))?
            .map_err(|e| LabError::invalid(e.to_string()))?
            .ok_or_else(|| LabError::invalid("no attestation CA"))
    }

    /// Changes the injected faults (`change` edits the current ones).
    pub fn set_faults(&self, id: &str, change: impl FnOnce(&mut Faults)) -> Result<(), LabError> {
        let faults = {
            let table = self.table();
            Arc::clone(
                &table
                    .get(id)
                    .ok_or_else(|| LabError::no_authenticator(id))?
                    .faults,
            )
        };
        change(&mut faults.lock().unwrap_or_else(PoisonError::into_inner));
        Ok(())
    }

    /// Drops the USB/IP connection of the host that attached the
    /// authenticator (it stays, and may be attached again); with
    /// `power_cycle`, its RAM state is renewed too, as when a key is
    /// unplugged and plugged back (PIN tokens gone, the reset window open).
    pub fn disconnect(&self, id: &str, power_cycle: bool) -> Result<bool, LabError> {
        // with_key also answers "no such authenticator".
        self.with_key(id, |key| {
            if power_cycle {
                key.power_cycle();
            }
        })?;
        Ok(self.exports.disconnect(id))
    }

    /// A FIDO MDS3 metadata statement for the authenticator (`metadata.rs`).
    pub fn metadata(&self, id: &str) -> Result<serde_json::Value, LabError> {
        let options = self
            .table()
            .get(id)
            .map(|a| a.options.clone())
            .ok_or_else(|| LabError::no_authenticator(id))?;
        let ca = self.attestation_ca(id)?;
        let info = self.with_key(id, Key::get_info)?;
        super::metadata::statement(
            &super::options::format_aaguid(&options.aaguid),
            &ca,
            &info,
            options.attestation,
        )
        .map_err(LabError::invalid)
    }

    /// CDP `setResponseOverrideBits`: faults in the next answers.
    pub fn set_response_overrides(
        &self,
        id: &str,
        overrides: ResponseOverrides,
    ) -> Result<(), LabError> {
        self.with_key(id, |key| key.set_response_overrides(overrides))
    }

    /// Runs `f` on an authenticator's key (its store), between requests.
    pub(super) fn with_key<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut Key) -> T,
    ) -> Result<T, LabError> {
        let key = {
            let table = self.table();
            Arc::clone(
                &table
                    .get(id)
                    .ok_or_else(|| LabError::no_authenticator(id))?
                    .key,
            )
        };
        let mut key = key.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(f(&mut key))
    }
}

fn bus_id(devnum: u32) -> String {
    // Device numbers 2, 3, … are bus ids 1-1, 1-2, … (port = devnum − 1).
    format!("{BUSNUM}-{}", devnum - 1)
}

/// The transport's handler for a key the API also reaches; it records
/// the events each answer makes.
struct SharedKey {
    key: Arc<Mutex<Key>>,
    faults: Arc<Mutex<Faults>>,
    events: Arc<EventLog>,
    id: String,
}

impl SharedKey {
    fn lock(&self) -> MutexGuard<'_, Key> {
        self.key.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl MessageHandler for SharedKey {
    fn handle(&mut self, request: Request, signals: &Signals) -> Vec<u8> {
        let cbor = request.kind == RequestKind::Cbor;
        let (injected, delay) = {
            let mut faults = self.faults.lock().unwrap_or_else(PoisonError::into_inner);
            let injected = if cbor {
                faults.next_statuses.pop_front()
            } else {
                None
            };
            if faults.withhold_keepalives {
                signals.withhold_keepalives();
            }
            (injected, faults.delay)
        };
        if !delay.is_zero() && signals.wait_cancelled(delay) {
            return self.refusal(request.kind, Refusal::Cancelled);
        }
        if let Some(status) = injected {
            return vec![status];
        }
        let payload = cbor.then(|| request.payload.clone());
        let response = self.lock().handle(request, signals);
        if let Some((kind, details)) = payload.and_then(|p| events::of_exchange(&p, &response)) {
            self.events.push(&self.id, kind, details);
        }
        response
    }

    fn refusal(&self, kind: RequestKind, why: Refusal) -> Vec<u8> {
        self.lock().refusal(kind, why)
    }

    fn attached(&mut self) {
        self.lock().attached();
    }

    fn detached(&mut self) {
        self.lock().detached();
    }

    fn winker(&self) -> Option<Winker> {
        None
    }
}
