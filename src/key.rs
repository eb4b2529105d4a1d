//! The served key: joins the transport's requests to the authenticator, the
//! store and the presence provider. One request at a time (the transport
//! serialises them), so the prompt never shows two requests at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use softkey_authenticator::{
    Algorithm, Authenticator, CtapError, Env, PresenceError, PresenceRequest, U2fStatus,
    UserPresence,
};
use softkey_transport::{
    KeepaliveStatus, MessageHandler, Refusal, Request, RequestKind, Signals, Winker,
};

use crate::control::ControlState;
use crate::presence::PresenceProvider;
use crate::rsa_pool::RsaPool;
use crate::store::Backing;

pub struct Key {
    authenticator: Authenticator,
    store: Backing,
    presence: Box<dyn PresenceProvider>,
    origin: Instant,
    /// What the control socket reports: attaches and the open prompt.
    control: Option<Arc<ControlState>>,
    /// Ready RSA keys, when RS256 or PS256 is enabled.
    rsa_pool: Option<RsaPool>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key").finish_non_exhaustive()
    }
}

impl Key {
    pub fn new(
        store: Backing,
        presence: Box<dyn PresenceProvider>,
        config: softkey_authenticator::Config,
    ) -> Self {
        let wants_rsa = config
            .algorithms
            .iter()
            .any(|alg| matches!(alg, Algorithm::Rs256 | Algorithm::Ps256));
        // Without the thread, RSA keys are still made, on the request path.
        let rsa_pool = wants_rsa
            .then(|| RsaPool::start().inspect_err(|e| tracing::warn!("no RSA key pool: {e}")))
            .and_then(Result::ok);
        let mut key = Self {
            authenticator: Authenticator::new(config),
            rsa_pool,
            store,
            presence,
            origin: Instant::now(),
            control: None,
        };
        // Process start is a power-up (CTAP 2.1 §6.6: the reset window opens).
        key.with_env(&Signals::new(), |auth, env| auth.power_up(env));
        key
    }

    /// Changes the key's store between requests (the lab's credential
    /// controls); the authenticator then forgets what it had read from it.
    pub fn change_store<T>(&mut self, change: impl FnOnce(&mut Backing) -> T) -> T {
        let result = change(&mut self.store);
        self.authenticator.store_changed();
        result
    }

    /// A power cycle without a host's detach: the PIN/UV state renewed, the
    /// reset window opened (the lab, after it set the PIN or reset).
    pub fn power_cycle(&mut self) {
        self.with_env(&Signals::new(), |auth, env| auth.power_up(env));
    }

    /// The key's getInfo answer (status byte and CBOR), as a platform gets it.
    pub fn get_info(&mut self) -> Vec<u8> {
        self.with_env(&Signals::new(), |auth, env| auth.process_cbor(env, &[0x04]))
    }

    /// Deliberate faults in the next answers (the test lab only).
    pub fn set_response_overrides(&mut self, overrides: softkey_authenticator::ResponseOverrides) {
        self.authenticator.set_response_overrides(overrides);
    }

    /// The key's store, to read between requests.
    pub fn store(&self) -> &Backing {
        &self.store
    }

    /// Reports attaches and open prompts to `control` (`softkey status`, `pending`).
    pub fn with_control(mut self, control: Arc<ControlState>) -> Self {
        self.control = Some(control);
        self
    }

    fn with_env<T>(
        &mut self,
        signals: &Signals,
        run: impl FnOnce(&mut Authenticator, &mut KeyEnv<'_>) -> T,
    ) -> T {
        let mut env = KeyEnv {
            store: &mut self.store,
            presence: Prompt {
                provider: self.presence.as_mut(),
                signals,
                control: self.control.as_deref(),
            },
            origin: self.origin,
            rsa_pool: self.rsa_pool.as_ref(),
        };
        run(&mut self.authenticator, &mut env)
    }
}

impl MessageHandler for Key {
    fn handle(&mut self, request: Request, signals: &Signals) -> Vec<u8> {
        match request.kind {
            RequestKind::Cbor => self.with_env(signals, |auth, env| {
                auth.process_cbor_on(env, request.channel, &request.payload)
            }),
            RequestKind::Msg => self.with_env(signals, |auth, env| {
                auth.process_apdu(env, &request.payload)
            }),
        }
    }

    fn refusal(&self, kind: RequestKind, why: Refusal) -> Vec<u8> {
        match (kind, why) {
            // CTAP 2.1 §11.2.9.1.5: a cancelled CTAP2 request answers
            // CTAP2_ERR_KEEPALIVE_CANCEL.
            (RequestKind::Cbor, Refusal::Cancelled) => vec![CtapError::KeepaliveCancel.code()],
            (RequestKind::Cbor, Refusal::Failed) => vec![CtapError::Other.code()],
            // U2F has no cancel; it answers as a request still wanting a
            // touch would.
            (RequestKind::Msg, Refusal::Cancelled) => U2fStatus::ConditionsNotSatisfied.to_vec(),
            (RequestKind::Msg, Refusal::Failed) => U2fStatus::Unknown.to_vec(),
        }
    }

    fn attached(&mut self) {
        tracing::info!("host attached the key");
        if let Some(control) = &self.control {
            control.host_attached();
        }
        self.with_env(&Signals::new(), |auth, env| auth.power_up(env));
    }

    fn detached(&mut self) {
        tracing::info!("host detached the key");
        if let Some(control) = &self.control {
            control.host_detached();
        }
    }

    fn winker(&self) -> Option<Winker> {
        Some(Box::new(|| {
            eprintln!("softkey: *wink* (the client asked the key to identify itself)");
        }))
    }
}

/// The authenticator's environment for one request.
struct KeyEnv<'a> {
    store: &'a mut Backing,
    presence: Prompt<'a>,
    origin: Instant,
    rsa_pool: Option<&'a RsaPool>,
}

impl<'a> Env for KeyEnv<'a> {
    type Store = Backing;
    type Presence = Prompt<'a>;

    fn fill_random(&mut self, buf: &mut [u8]) {
        // No fallback exists for a broken OS RNG: a key must not run without one.
        #[allow(clippy::expect_used)]
        getrandom::fill(buf).expect("the operating system's random number generator failed");
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn unix_time(&self) -> u64 {
        crate::text::unix_now()
    }

    fn store(&mut self) -> &mut Backing {
        self.store
    }

    fn presence(&mut self) -> &mut Prompt<'a> {
        &mut self.presence
    }

    fn pregenerated_rsa_key(&mut self) -> Option<zeroize::Zeroizing<Vec<u8>>> {
        self.rsa_pool.and_then(RsaPool::take)
    }
}

/// Keeps the keepalive status at UPNEEDED exactly while a prompt is open.
struct Prompt<'a> {
    provider: &'a mut dyn PresenceProvider,
    signals: &'a Signals,
    control: Option<&'a ControlState>,
}

impl Prompt<'_> {
    /// Runs one gesture with the prompt open: UPNEEDED keepalives, and the
    /// request listed by `softkey pending` / `status` until it closes.
    fn open<T>(
        &mut self,
        request: &PresenceRequest<'_>,
        gesture: impl FnOnce(&mut dyn PresenceProvider, &Signals) -> Result<T, PresenceError>,
    ) -> Result<T, PresenceError> {
        if self.signals.is_cancelled() {
            return Err(PresenceError::Cancelled);
        }
        self.signals.set_status(KeepaliveStatus::UpNeeded);
        let _ticket = self
            .control
            .map(|control| control.open(request, control.prompt_timeout()));
        let answer = gesture(self.provider, self.signals);
        self.signals.set_status(KeepaliveStatus::Processing);
        answer
    }
}

impl UserPresence for Prompt<'_> {
    fn check(&mut self, request: &PresenceRequest<'_>) -> Result<(), PresenceError> {
        self.open(request, |provider, signals| provider.ask(request, signals))
    }

    fn verify(&mut self, request: &PresenceRequest<'_>) -> Result<bool, PresenceError> {
        self.open(request, |provider, signals| {
            provider.verify(request, signals)
        })
    }
}
