//! The authenticator state machine and CTAP2 command dispatch (CTAP 2.1
//! §6 "Authenticator API", §8.2 status codes): `command byte || CBOR` in,
//! `status byte || CBOR` out. Command handlers live one per file.

mod ctap2;
mod pin_uv;
pub(crate) mod u2f;

pub use ctap2::MAX_CREDENTIAL_COUNT_IN_LIST;
pub use u2f::StatusWord as U2fStatus;

use core::time::Duration;

use crate::cbor::{self, Value};
use crate::command::Command;
use crate::counter::SignCounter;
use crate::credential_properties::{CounterMode, CredentialProperties};
use crate::env::Env;
use crate::error::Error;
use crate::keys::{Algorithm, DEFAULT_ENABLED};
use crate::pin::PinState;
use crate::profile::{CtapVersion, ExtensionSet};
use crate::response_overrides::ResponseOverrides;
use crate::secrets::SecretsCache;
use crate::state::{AssertionState, ManagementState};
use crate::status::CtapError;

/// softkey's AAGUID: one fixed random value for every softkey instance, so
/// RPs see the model, not the installation.
pub const DEFAULT_AAGUID: [u8; 16] = [
    0xdb, 0x2b, 0xf4, 0xbd, 0xd1, 0x04, 0x17, 0x60, 0x50, 0x7a, 0xb6, 0xf4, 0x0b, 0x32, 0x8e, 0xfc,
];

/// Largest message we accept, command byte included (CTAPHID: 57 + 128 × 59),
/// and the getInfo maxMsgSize of a key whose transport carries it whole.
pub const MAX_MSG_SIZE: usize = 7609;
/// The smallest maxMsgSize there is: what platforms assume when getInfo
/// lists none (CTAP 2.1 §6.4).
pub const MIN_MSG_SIZE: usize = 1024;

/// Fixed properties of this authenticator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub aaguid: [u8; 16],
    /// How many discoverable credentials the key accepts (getInfo
    /// remainingDiscoverableCredentials, KEY_STORE_FULL past it).
    pub max_discoverable_credentials: u64,
    /// The algorithms makeCredential may choose and getInfo lists (0x0A),
    /// listed in [`crate::keys::SUPPORTED`]'s order whatever their order here.
    /// Existing credentials of other algorithms still sign.
    pub algorithms: Vec<Algorithm>,
    /// How new credentials count signatures (the test lab's option; a
    /// served key keeps one global counter).
    pub counter_mode: CounterMode,
    /// BE and BS of new credentials (WebAuthn §6.1; the W3C virtual
    /// authenticator's defaultBackupEligibility / defaultBackupState).
    pub backup_eligible: bool,
    pub backup_state: bool,
    /// The CTAP version the key presents (a test-lab option).
    pub ctap_version: CtapVersion,
    /// The extensions the key has (a test-lab option; all by default).
    pub extensions: ExtensionSet,
    /// The transports getInfo declares (0x09): `usb`, or what a test-lab
    /// key was told to declare (it is still reached over USB/IP).
    pub transports: Vec<String>,
    /// Built-in user verification (getInfo `uv`; pin/built_in_uv.rs): a
    /// test-lab key's `hasUserVerification`, verified through
    /// [`crate::UserPresence::verify`]. A served key's UV is its PIN.
    pub built_in_uv: bool,
    /// Whether the key stores discoverable credentials (getInfo `rk`); a
    /// test-lab key's `hasResidentKey: false` has none.
    pub resident_keys: bool,
    /// getInfo maxMsgSize (0x05): the longest message the platform should
    /// send, between [`MIN_MSG_SIZE`] and [`MAX_MSG_SIZE`] (held there).
    /// A transport that can lose the tail of a long message says less (a
    /// uhid device). maxCredentialCountInList and the large-blob
    /// maxFragmentLength follow from it; longer requests are still
    /// accepted, up to [`MAX_MSG_SIZE`].
    pub max_msg_size: usize,
}

/// Hardware keys stop at 25–256 passkeys; softkey has no such limit. The
/// figure getInfo reports must be a number, so it is one no user reaches.
pub const DEFAULT_MAX_DISCOVERABLE_CREDENTIALS: u64 = 1_000_000;

impl Default for Config {
    fn default() -> Self {
        Config {
            aaguid: DEFAULT_AAGUID,
            max_discoverable_credentials: DEFAULT_MAX_DISCOVERABLE_CREDENTIALS,
            algorithms: DEFAULT_ENABLED.to_vec(),
            counter_mode: CounterMode::Global,
            backup_eligible: false,
            backup_state: false,
            ctap_version: CtapVersion::Ctap21,
            extensions: ExtensionSet::default(),
            transports: vec!["usb".into()],
            built_in_uv: false,
            resident_keys: true,
            max_msg_size: MAX_MSG_SIZE,
        }
    }
}

/// The CTAP2 authenticator. Holds RAM state only (device secrets cache,
/// counter reservation, getNextAssertion state); everything durable goes
/// through [`Env::store`].
///
/// Because of those caches, the store must not be changed behind a running
/// authenticator's back: [`crate::import_backup`] is meant for a store no
/// authenticator is serving (make a new `Authenticator` afterwards), or
/// call [`Authenticator::store_changed`] after it, between requests.
#[derive(Debug)]
pub struct Authenticator {
    config: Config,
    /// The device secrets and imported wrap keys, read on first need.
    secrets: SecretsCache,
    counter: SignCounter,
    assertion_state: Option<AssertionState>,
    powered_up_at: Option<Duration>,
    /// PIN/UV RAM state: key agreement keys, pinUvAuthToken, mismatches.
    pin: PinState,
    /// Credential management enumeration and large-blob write state.
    management: ManagementState,
    /// The CTAPHID channel whose getAssertion or credential-management
    /// enumeration left the "next" state above; only it may continue it.
    state_channel: Option<u32>,
    /// Deliberate faults for relying-party tests (the test lab only).
    overrides: ResponseOverrides,
}

impl Authenticator {
    pub fn new(config: Config) -> Self {
        Authenticator {
            config,
            secrets: SecretsCache::default(),
            counter: SignCounter::default(),
            assertion_state: None,
            powered_up_at: None,
            pin: PinState::default(),
            management: ManagementState::default(),
            state_channel: None,
            overrides: ResponseOverrides::default(),
        }
    }

    /// Sets the deliberate faults of the next answers (CDP
    /// `setResponseOverrideBits`; see [`ResponseOverrides`]).
    pub fn set_response_overrides(&mut self, overrides: ResponseOverrides) {
        self.overrides = overrides;
    }

    /// A power-up: process start or USB/IP attach. Forgets any
    /// getNextAssertion state, starts the reset window (CTAP 2.1 §6.6) and
    /// renews the PIN/UV RAM state (§6.5.6 `initialize()`): new key
    /// agreement keys and pinUvAuthTokens, the consecutive PIN mismatch
    /// counter cleared (the "power cycle" of SECURITY.md "The CTAP PIN").
    pub fn power_up<E: Env>(&mut self, env: &mut E) {
        self.assertion_state = None;
        self.powered_up_at = Some(env.now());
        self.management = ManagementState::default();
        self.pin.power_up(env);
    }

    /// The store was changed by someone else between requests (the test
    /// lab's credential controls): forget what was read from it — the
    /// device secrets, the counter reservation (the next value continues
    /// above whatever ceiling the store now holds), getNextAssertion and
    /// enumeration state — so the next request reads it afresh. PIN/UV
    /// state and the reset window stay, as on a key that was not unplugged.
    pub fn store_changed(&mut self) {
        self.secrets = SecretsCache::default();
        self.counter = SignCounter::default();
        self.assertion_state = None;
        self.management = ManagementState::default();
        self.state_channel = None;
    }

    /// The properties a new credential gets, and those of a credential
    /// without a record (non-discoverable: nothing to keep them in, so
    /// they follow the configuration).
    pub(crate) fn new_credential_properties(&self, discoverable: bool) -> CredentialProperties {
        let counter = match (self.config.counter_mode, discoverable) {
            // A per-credential counter needs a record to live in.
            (CounterMode::PerCredential, false) => CounterMode::Global.new_credential(),
            (mode, _) => mode.new_credential(),
        };
        CredentialProperties {
            counter,
            backup_eligible: self.config.backup_eligible,
            backup_state: self.config.backup_state,
        }
    }

    /// Whether the key has the extension with this identifier: its
    /// extension set, and for a CTAP 2.0 key only what 2.0 keys had
    /// (hmac-secret and credProtect).
    pub(crate) fn has_extension(&self, identifier: &str) -> bool {
        use crate::extensions::{CRED_PROTECT, HMAC_SECRET};
        let in_version = self.config.ctap_version != CtapVersion::Ctap20
            || matches!(identifier, HMAC_SECRET | CRED_PROTECT);
        in_version && self.config.extensions.has(identifier)
    }

    /// The maxMsgSize getInfo lists: the configured one, held to the
    /// range CTAP allows and CTAPHID carries.
    pub(crate) fn max_msg_size(&self) -> usize {
        self.config.max_msg_size.clamp(MIN_MSG_SIZE, MAX_MSG_SIZE)
    }

    /// When [`Self::power_up`] last ran, on the `Env::now` clock.
    pub fn powered_up_at(&self) -> Option<Duration> {
        self.powered_up_at
    }

    /// Processes one CTAP2 message (`command byte || CBOR parameters`) and
    /// returns `status byte || CBOR response`. Never panics on any input.
    /// For a platform that talks on one channel; see [`Self::process_cbor_on`].
    pub fn process_cbor<E: Env>(&mut self, env: &mut E, request: &[u8]) -> Vec<u8> {
        self.process_cbor_on(env, 0, request)
    }

    /// [`Self::process_cbor`] for a request that arrived on CTAPHID channel
    /// `channel`: getNextAssertion and the credential-management "next"
    /// subcommands are refused (NOT_ALLOWED) on any channel but the one that
    /// began the sequence, whose state is left intact.
    pub fn process_cbor_on<E: Env>(
        &mut self,
        env: &mut E,
        channel: u32,
        request: &[u8],
    ) -> Vec<u8> {
        match self.dispatch(env, channel, request) {
            Ok(response) => {
                let mut out = vec![0x00];
                if let Some(response) = response {
                    out.extend_from_slice(&cbor::encode(&response));
                }
                out
            }
            Err(e) => {
                let status = e.status();
                log_failure(request.first().copied(), status, &e);
                vec![status.code()]
            }
        }
    }

    fn dispatch<E: Env>(
        &mut self,
        env: &mut E,
        channel: u32,
        request: &[u8],
    ) -> Result<Option<Value>, Error> {
        let (&byte, params) = request.split_first().ok_or(CtapError::InvalidLength)?;
        if request.len() > MAX_MSG_SIZE {
            return Err(CtapError::InvalidLength.into());
        }
        let Ok(command) = Command::try_from(byte) else {
            // §6.3, §6.8.3: any other command, even one the key does not
            // know, ends the assertion sequence and an enumeration.
            self.assertion_state = None;
            self.management.enumeration = None;
            self.state_channel = None;
            return Err(CtapError::InvalidCommand.into());
        };
        if self.state_channel.is_some_and(|owner| owner != channel)
            && continues_state(command, params)
        {
            return Err(CtapError::NotAllowed.into());
        }
        let result = self.run(env, command, params);
        let stateful = self.assertion_state.is_some() || self.management.enumeration.is_some();
        self.state_channel = stateful.then_some(channel);
        result
    }

    fn run<E: Env>(
        &mut self,
        env: &mut E,
        command: Command,
        params: &[u8],
    ) -> Result<Option<Value>, Error> {
        // CTAP 2.1 §6.3: any command other than getNextAssertion ends the
        // assertion sequence.
        if command != Command::GetNextAssertion {
            self.assertion_state = None;
        }
        // §6.8.3/§6.8.4: likewise any command other than credential
        // management ends an enumeration (the handler ends it for other
        // subcommands).
        if !command.is_credential_management() {
            self.management.enumeration = None;
        }
        // A CTAP 2.0 key has none of 2.1's commands; a key without large
        // blobs has no largeBlobs command.
        let lacks = match command {
            Command::CredentialManagement
            | Command::CredentialManagementPreview
            | Command::Selection
            | Command::Config => self.config.ctap_version == CtapVersion::Ctap20,
            Command::LargeBlobs => {
                self.config.ctap_version == CtapVersion::Ctap20
                    || !self.config.extensions.large_blob
            }
            _ => false,
        };
        if lacks {
            return Err(CtapError::InvalidCommand.into());
        }
        match command {
            Command::MakeCredential => self.make_credential(env, params).map(Some),
            Command::GetAssertion => self.get_assertion(env, params).map(Some),
            Command::GetInfo => self.get_info(env).map(Some),
            Command::GetNextAssertion => self.get_next_assertion(env).map(Some),
            Command::ClientPin => Ok(self.client_pin(env, params)?),
            Command::Reset => self.reset(env).map(|()| None),
            Command::CredentialManagement | Command::CredentialManagementPreview => {
                self.credential_management(env, params)
            }
            Command::Selection => self.selection(env).map(|()| None),
            Command::LargeBlobs => self.large_blobs(env, params),
            Command::Config => self.authenticator_config(env, params).map(|()| None),
        }
    }
}

/// Whether a request continues a "next" sequence: getNextAssertion (§6.3),
/// or credential management's enumerateRPsGetNextRP / enumerateCredentialsGetNextCredential
/// (§6.8.3, §6.8.4), whose subCommand is key 0x01.
fn continues_state(command: Command, params: &[u8]) -> bool {
    match command {
        Command::GetNextAssertion => true,
        Command::CredentialManagement | Command::CredentialManagementPreview => {
            cbor::decode(params).is_ok_and(|v| {
                matches!(
                    v.get(&Value::Unsigned(0x01)),
                    Some(Value::Unsigned(0x03 | 0x05))
                )
            })
        }
        _ => false,
    }
}

/// The one log event of a failed request: which command, the status the
/// client received, and the cause. A refusal the spec prescribes is routine
/// (debug); a failure of the key itself, such as a full disk, is an error
/// the person running the key must see.
fn log_failure(byte: Option<u8>, status: CtapError, error: &Error) {
    let command = match byte.map(Command::try_from) {
        Some(Ok(command)) => command.name(),
        Some(Err(_)) => "unknown command",
        None => "empty request",
    };
    let status = format_args!("0x{:02X}", status.code());
    if error.is_fault() {
        tracing::error!(command, %status, cause = %error, "request failed");
    } else {
        tracing::debug!(command, %status, cause = %error, "request refused");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestEnv;

    #[test]
    fn empty_request_is_invalid_length() {
        let mut env = TestEnv::new(0);
        let mut a = Authenticator::new(Config::default());
        assert_eq!(a.process_cbor(&mut env, &[]), [0x03]);
    }

    #[test]
    fn unknown_commands_are_invalid_command() {
        let mut env = TestEnv::new(0);
        let mut a = Authenticator::new(Config::default());
        for cmd in [0x00, 0x03, 0x05, 0x09, 0x0E, 0x40, 0x42, 0xFF] {
            assert_eq!(
                a.process_cbor(&mut env, &[cmd]),
                [0x01],
                "command {cmd:02X}"
            );
        }
    }

    #[test]
    fn oversized_request_is_invalid_length() {
        let mut env = TestEnv::new(0);
        let mut a = Authenticator::new(Config::default());
        let mut big = vec![0x04];
        big.resize(MAX_MSG_SIZE + 1, 0);
        assert_eq!(a.process_cbor(&mut env, &big), [0x03]);
    }

    #[test]
    fn power_up_records_time() {
        let mut env = TestEnv::new(0);
        let mut a = Authenticator::new(Config::default());
        assert_eq!(a.powered_up_at(), None);
        env.advance(Duration::from_secs(5));
        a.power_up(&mut env);
        assert_eq!(a.powered_up_at(), Some(Duration::from_secs(5)));
    }

    #[test]
    fn next_subcommands_are_recognised_for_channel_binding() {
        let cm = |sub: u64| cbor::encode(&Value::int_map(vec![(0x01, Value::Unsigned(sub))]));
        // §6.8.3 enumerateRPsGetNextRP, §6.8.4 enumerateCredentialsGetNextCredential.
        assert!(continues_state(Command::CredentialManagement, &cm(0x03)));
        assert!(continues_state(
            Command::CredentialManagementPreview,
            &cm(0x05)
        ));
        for sub in [0x01, 0x02, 0x04, 0x06, 0x07] {
            assert!(
                !continues_state(Command::CredentialManagement, &cm(sub)),
                "{sub}"
            );
        }
        assert!(continues_state(Command::GetNextAssertion, &[]));
        assert!(!continues_state(Command::GetAssertion, &[]));
        assert!(!continues_state(Command::CredentialManagement, b"\xff"));
    }
}
