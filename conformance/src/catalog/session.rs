//! What a check talks to: the target, a CTAPHID channel on a fresh
//! connection for each check (so one check's leftovers cannot fail the
//! next), the key's getInfo read once, and the prompt shown before a check
//! that needs a touch.

use std::time::Duration;

use super::Target;
use crate::Error;
use crate::ctap2::cbor::{Value, encode};
use crate::ctap2::{Ctap2, Info, command};
use crate::ctaphid::{CtapHid, HidDevice};

/// A connection as the checks use it.
pub type Device = Box<dyn HidDevice + Send>;

/// How long one CTAPHID packet may take, and a whole answer (a person may
/// be touching the key).
const PACKET_TIMEOUT: Duration = Duration::from_secs(3);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(40);

/// One run's view of the key.
pub struct Session {
    target: Target,
    ctap: Option<Ctap2<Device>>,
    info: Option<Info>,
    prompt: Box<dyn FnMut(&str) + Send>,
    /// The prompt of the running check, shown before its first request
    /// (not for a check that turns out not to apply).
    pending_prompt: Option<String>,
    /// The PIN the destructive checks set on the key, while it is set.
    pub pin: Option<String>,
    /// An RP id the key lists for vendor-facilitated enterprise
    /// attestation (`--ep-rp-id`).
    pub ep_rp_id: Option<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("target", &self.target)
            .field("connected", &self.ctap.is_some())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session on `target`; `prompt` is shown the text of each request
    /// for a touch.
    pub fn new(target: Target, prompt: impl FnMut(&str) + Send + 'static) -> Self {
        Session {
            target,
            ctap: None,
            info: None,
            prompt: Box::new(prompt),
            pending_prompt: None,
            pin: None,
            ep_rp_id: None,
        }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Drops the connection; the next use opens a new one (a USB/IP import
    /// is an attach, which a key may treat as a power-up).
    pub fn disconnect(&mut self) {
        self.ctap = None;
    }

    /// A power cycle, as far as the checks can make one: a new USB/IP
    /// import (an attach, which a key takes as plugging in). A hidraw node
    /// cannot be unplugged from here: `false`.
    pub fn power_cycle(&mut self) -> bool {
        self.disconnect();
        self.forget_info();
        self.target.usbip_addr().is_some()
    }

    /// The CTAP2 client on the current connection, connecting first; a
    /// check's prompt for a touch is shown before its first request.
    pub fn ctap2(&mut self) -> Result<&mut Ctap2<Device>, Error> {
        if let Some(text) = self.pending_prompt.take() {
            (self.prompt)(&text);
        }
        self.connection()
    }

    fn connection(&mut self) -> Result<&mut Ctap2<Device>, Error> {
        if self.ctap.is_none() {
            let mut hid = CtapHid::init(self.target.open()?)?;
            hid.set_timeouts(PACKET_TIMEOUT, ANSWER_TIMEOUT);
            self.ctap = Some(Ctap2::new(hid));
        }
        self.ctap
            .as_mut()
            .ok_or_else(|| Error::Usage("no connection".into()))
    }

    /// Whether CTAPHID_INIT offered CBOR (CTAP 2.1 §11.2.9.1.3): a key
    /// without is U2F-only, and no CTAP2 check applies to it.
    pub fn offers_cbor(&mut self) -> Result<bool, Error> {
        let caps = self.connection()?.hid().capabilities();
        Ok(caps & crate::ctaphid::capability::CBOR != 0)
    }

    /// The CTAPHID channel of the current connection.
    pub fn hid(&mut self) -> Result<&mut CtapHid<Device>, Error> {
        Ok(self.ctap2()?.hid())
    }

    /// A new connection that is not the session's (for checks that need
    /// two channels or a raw device).
    pub fn open_device(&self) -> Result<Device, Error> {
        self.target.open()
    }

    /// The key's getInfo, read once per run.
    pub fn info(&mut self) -> Result<Info, Error> {
        if let Some(info) = &self.info {
            return Ok(info.clone());
        }
        let info = self.connection()?.get_info()?;
        self.info = Some(info.clone());
        Ok(info)
    }

    /// Forgets getInfo (after a check changed what it says).
    pub fn forget_info(&mut self) {
        self.info = None;
    }

    /// Sends a CTAP2 command with these parameters; the status byte and body.
    pub fn send(&mut self, cmd: u8, params: Option<&Value>) -> Result<(u8, Vec<u8>), Error> {
        let payload = params.map(encode).unwrap_or_default();
        self.hid()?.cbor(cmd, &payload)
    }

    /// The status of a makeCredential with these parameters.
    pub fn make_credential_status(&mut self, params: &Value) -> Result<u8, Error> {
        Ok(self.send(command::MAKE_CREDENTIAL, Some(params))?.0)
    }

    /// The status of a getAssertion with these parameters.
    pub fn get_assertion_status(&mut self, params: &Value) -> Result<u8, Error> {
        Ok(self.send(command::GET_ASSERTION, Some(params))?.0)
    }

    /// Shows `what` before the running check's first request; cleared
    /// when the check ends.
    pub fn prompt_before_first_request(&mut self, what: Option<String>) {
        self.pending_prompt = what;
    }
}
