//! The conformance catalog: checks in the FIDO test families, each written
//! from the CTAP 2.1/2.2 text, each with an id, a family, the spec section
//! and step it reads, what it sends and what it expects. `softkey
//! conformance TARGET` runs them against any FIDO key reached over USB/IP or
//! `/dev/hidraw` (`target.rs`) and reports a verdict per check: pass, fail
//! with what the key answered, or not applicable with the getInfo fact that
//! makes it so.
//!
//! A check is a closure over a [`Session`] (one CTAPHID channel, getInfo
//! cached). Checks that need a touch say so ([`Check::presence`]); a key
//! that needs a person gets the prompt text before each. Checks that change
//! the key's state for good (reset, PIN set or change, lockout) are
//! [`Check::destructive`] and run only when asked; every other check leaves
//! the key as it found it.

mod families;
mod hidraw;
pub mod pin;
pub mod report;
mod session;
mod target;

pub use report::{Expectations, Finding, Outcome, Summary, run};
pub use session::Session;
pub use target::Target;

use crate::Error;

/// The families of the catalog, in report order (after the FIDO test
/// families' names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// USB/IP as Linux speaks it (only for USB/IP targets).
    Usbip,
    /// CTAPHID framing (CTAP 2.1 §11.2).
    HidTransport,
    /// authenticatorGetInfo (§6.4).
    GetInfo,
    /// makeCredential requests: missing and wrong-typed members (§6.1.1–2).
    MakeCredentialRequest,
    /// makeCredential's rp, user and pubKeyCredParams members.
    MakeCredentialEntities,
    /// makeCredential options and excludeList.
    MakeCredentialOptions,
    /// makeCredential responses (§6.1.2 step 19, §6.5.4 attestation).
    MakeCredentialResponse,
    /// getAssertion requests and responses (§6.2).
    GetAssertion,
    /// CTAP1/U2F over CTAPHID_MSG.
    U2f,
    /// authenticatorReset (§6.6); destructive.
    Reset,
    /// authenticatorClientPIN (§6.5.5): protocols 1 and 2, tokens, PINs.
    ClientPin,
    /// Discoverable credentials (§6.1.2 step 17, §6.2.2 step 7, §6.3).
    Resident,
    /// authenticatorCredentialManagement (§6.8).
    CredentialManagement,
    /// authenticatorConfig (§6.11).
    Config,
    /// authenticatorLargeBlobs (§6.10).
    LargeBlobs,
    /// Extensions (§12).
    Extensions,
    /// Enterprise attestation (§6.1.2 step 9, §6.11.1).
    Enterprise,
    /// The PIN's retry limits, last of all; destructive.
    PinLockout,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Usbip => "usbip",
            Family::HidTransport => "hid",
            Family::GetInfo => "getinfo",
            Family::MakeCredentialRequest => "mc-request",
            Family::MakeCredentialEntities => "mc-entities",
            Family::MakeCredentialOptions => "mc-options",
            Family::MakeCredentialResponse => "mc-response",
            Family::GetAssertion => "getassertion",
            Family::U2f => "u2f",
            Family::Reset => "reset",
            Family::ClientPin => "clientpin",
            Family::Resident => "resident",
            Family::CredentialManagement => "credmgmt",
            Family::Config => "config",
            Family::LargeBlobs => "largeblobs",
            Family::Extensions => "extensions",
            Family::Enterprise => "enterprise",
            Family::PinLockout => "pin-lockout",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Family::Usbip => "USB/IP",
            Family::HidTransport => "CTAPHID transport",
            Family::GetInfo => "authenticatorGetInfo",
            Family::MakeCredentialRequest => "makeCredential: missing and wrong-typed members",
            Family::MakeCredentialEntities => "makeCredential: rp, user, pubKeyCredParams",
            Family::MakeCredentialOptions => "makeCredential: options and excludeList",
            Family::MakeCredentialResponse => "makeCredential: the response",
            Family::GetAssertion => "authenticatorGetAssertion",
            Family::U2f => "CTAP1/U2F",
            Family::Reset => "authenticatorReset",
            Family::ClientPin => "authenticatorClientPIN",
            Family::Resident => "discoverable credentials",
            Family::CredentialManagement => "authenticatorCredentialManagement",
            Family::Config => "authenticatorConfig",
            Family::LargeBlobs => "authenticatorLargeBlobs",
            Family::Extensions => "extensions",
            Family::Enterprise => "enterprise attestation",
            Family::PinLockout => "PIN retries and lockout",
        }
    }

    /// Whether the family's checks speak CTAP2 (CTAPHID_CBOR).
    pub fn speaks_ctap2(self) -> bool {
        !matches!(self, Family::Usbip | Family::HidTransport | Family::U2f)
    }

    pub const ALL: [Family; 18] = [
        Family::Usbip,
        Family::HidTransport,
        Family::GetInfo,
        Family::MakeCredentialRequest,
        Family::MakeCredentialEntities,
        Family::MakeCredentialOptions,
        Family::MakeCredentialResponse,
        Family::GetAssertion,
        Family::U2f,
        Family::Reset,
        Family::ClientPin,
        Family::Resident,
        Family::CredentialManagement,
        Family::Config,
        Family::LargeBlobs,
        Family::Extensions,
        Family::Enterprise,
        Family::PinLockout,
    ];
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// As expected; the text says what was seen.
    Pass(String),
    /// Not as expected; the text says what the key answered.
    Fail(String),
    /// Does not apply to this key; the text names the getInfo fact.
    NotApplicable(String),
}

/// The body of a check.
pub type Body = Box<dyn Fn(&mut Session) -> Result<Verdict, Error> + Send + Sync>;

/// What a check is, apart from its body: what `--list` shows and each
/// report repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct About {
    /// Stable, unique: `family.what`, e.g. `mc-request.missing.rp`.
    pub id: String,
    pub family: Family,
    /// The spec section and step it reads, e.g. "CTAP 2.1 §6.1.2 step 1".
    pub spec: String,
    /// What it sends.
    pub sends: String,
    /// What it expects.
    pub expects: String,
    /// Needs a test of user presence (a touch) to complete.
    pub presence: bool,
    /// Changes the key for good (reset, PIN, lockout): only with
    /// `--destructive`.
    pub destructive: bool,
}

/// One check of the catalog.
pub struct Check {
    pub about: About,
    pub body: Body,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check")
            .field("about", &self.about)
            .finish_non_exhaustive()
    }
}

impl Check {
    /// A check with its id, family, spec reference, what it sends and what
    /// it expects; neither touch nor destruction.
    /// A check of `family` whose id is the family's name, a dot and `id` (what `--only`
    /// and `--skip` match by prefix).
    pub fn in_family(
        family: Family,
        id: &str,
        spec: impl Into<String>,
        sends: impl Into<String>,
        expects: impl Into<String>,
        body: impl Fn(&mut Session) -> Result<Verdict, Error> + Send + Sync + 'static,
    ) -> Self {
        Self::new(
            format!("{}.{id}", family.name()),
            family,
            spec,
            sends,
            expects,
            body,
        )
    }

    pub fn new(
        id: impl Into<String>,
        family: Family,
        spec: impl Into<String>,
        sends: impl Into<String>,
        expects: impl Into<String>,
        body: impl Fn(&mut Session) -> Result<Verdict, Error> + Send + Sync + 'static,
    ) -> Self {
        Check {
            about: About {
                id: id.into(),
                family,
                spec: spec.into(),
                sends: sends.into(),
                expects: expects.into(),
                presence: false,
                destructive: false,
            },
            body: Box::new(body),
        }
    }

    /// Marks the check as needing a touch.
    pub fn with_presence(mut self) -> Self {
        self.about.presence = true;
        self
    }

    /// Runs `gate` before the body: a verdict from it (not applicable, or
    /// failed) is the check's, and the body does not run.
    pub fn gated(
        mut self,
        gate: impl Fn(&mut Session) -> Result<Result<(), Verdict>, Error> + Send + Sync + 'static,
    ) -> Self {
        let body = self.body;
        self.body = Box::new(move |s| match gate(s)? {
            Err(verdict) => Ok(verdict),
            Ok(()) => body(s),
        });
        self
    }

    /// Marks the check as changing the key for good.
    pub fn destructive(mut self) -> Self {
        self.about.destructive = true;
        self
    }
}

/// Every check, in report order.
pub fn catalog() -> Vec<Check> {
    families::all()
}

/// Which checks a run takes: by id or family name (`--only`, `--skip`).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub only: Vec<String>,
    pub skip: Vec<String>,
    pub destructive: bool,
}

impl Selection {
    fn names(check: &Check, pattern: &str) -> bool {
        let about = &check.about;
        about.id == pattern
            || about.family.name() == pattern
            || about
                .id
                .strip_prefix(pattern)
                .is_some_and(|rest| rest.starts_with('.'))
    }

    /// Whether the run takes `check`; `Err` with the reason it is left out.
    pub fn takes(&self, check: &Check) -> Result<(), &'static str> {
        if !self.only.is_empty() && !self.only.iter().any(|p| Self::names(check, p)) {
            return Err("not selected (--only)");
        }
        if self.skip.iter().any(|p| Self::names(check, p)) {
            return Err("skipped (--skip)");
        }
        if check.about.destructive && !self.destructive {
            return Err("destructive: run with --destructive");
        }
        Ok(())
    }

    /// Patterns that name no check or family: a typo would run nothing.
    pub fn unknown_patterns(&self, checks: &[Check]) -> Vec<String> {
        self.only
            .iter()
            .chain(&self.skip)
            .filter(|p| !checks.iter().any(|c| Self::names(c, p)))
            .cloned()
            .collect()
    }
}
