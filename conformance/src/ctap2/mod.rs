//! A CTAP2 client on a CTAPHID channel (CTAP 2.1 §6): getInfo, makeCredential,
//! getAssertion, getNextAssertion, reset, and raw commands. Every successful response
//! is checked for canonical CBOR and verified (see the per-command modules).

mod auth_data;
pub mod cbor;
mod client_pin;
mod get_assertion;
mod info;
mod make_credential;
pub mod pin_protocol;
mod public_key;
mod x5c;

pub use auth_data::{AttestedCredential, AuthData, cose_es256_key, flags, verify_es256};
pub use get_assertion::{Assertion, GetAssertionRequest};
pub use info::Info;
pub use make_credential::{
    Attestation, AttestationCheck, MakeCredentialRequest, RpEntity, UserEntity,
};
pub use public_key::{COSE_EDDSA, COSE_ES256, CredentialPublicKey};
pub use x5c::BatchAttestation;

use std::net::SocketAddr;

use crate::Error;
use crate::ctaphid::{CtapHid, HidDevice};
use crate::usbip::UsbipDevice;

/// CTAP2 command bytes (CTAP 2.1 §6).
pub mod command {
    pub const MAKE_CREDENTIAL: u8 = 0x01;
    pub const GET_ASSERTION: u8 = 0x02;
    pub const GET_INFO: u8 = 0x04;
    pub const CLIENT_PIN: u8 = 0x06;
    pub const RESET: u8 = 0x07;
    pub const GET_NEXT_ASSERTION: u8 = 0x08;
    pub const CREDENTIAL_MANAGEMENT: u8 = 0x0A;
    pub const SELECTION: u8 = 0x0B;
    pub const LARGE_BLOBS: u8 = 0x0C;
    pub const CONFIG: u8 = 0x0D;
}

/// CTAP2 status codes this crate's checks look for (CTAP 2.1 §8.2).
pub mod status {
    pub const SUCCESS: u8 = 0x00;
    pub const INVALID_COMMAND: u8 = 0x01;
    pub const INVALID_PARAMETER: u8 = 0x02;
    pub const INVALID_LENGTH: u8 = 0x03;
    pub const CBOR_UNEXPECTED_TYPE: u8 = 0x11;
    pub const INVALID_CBOR: u8 = 0x12;
    pub const MISSING_PARAMETER: u8 = 0x14;
    pub const CREDENTIAL_EXCLUDED: u8 = 0x19;
    pub const UNSUPPORTED_ALGORITHM: u8 = 0x26;
    pub const OPERATION_DENIED: u8 = 0x27;
    pub const UNSUPPORTED_OPTION: u8 = 0x2B;
    pub const INVALID_OPTION: u8 = 0x2C;
    pub const KEEPALIVE_CANCEL: u8 = 0x2D;
    pub const NO_CREDENTIALS: u8 = 0x2E;
    pub const USER_ACTION_TIMEOUT: u8 = 0x2F;
    pub const NOT_ALLOWED: u8 = 0x30;
    pub const PIN_INVALID: u8 = 0x31;
    pub const PIN_BLOCKED: u8 = 0x32;
    pub const PIN_AUTH_INVALID: u8 = 0x33;
    pub const PIN_AUTH_BLOCKED: u8 = 0x34;
    pub const PIN_NOT_SET: u8 = 0x35;
    pub const PIN_REQUIRED: u8 = 0x36;
    pub const PIN_POLICY_VIOLATION: u8 = 0x37;
    pub const INVALID_SUBCOMMAND: u8 = 0x3E;
    pub const UNAUTHORIZED_PERMISSION: u8 = 0x40;
    pub const OTHER: u8 = 0x7F;
}

/// A CTAP2 session on one CTAPHID channel.
#[derive(Debug)]
pub struct Ctap2<D> {
    hid: CtapHid<D>,
    /// The last getAssertion request, to check getNextAssertion responses against.
    last_request: Option<GetAssertionRequest>,
}

impl Ctap2<UsbipDevice> {
    /// Imports `busid`, allocates a CTAPHID channel and returns a CTAP2 session.
    pub fn connect(addr: SocketAddr, busid: &str) -> Result<Self, Error> {
        Ok(Ctap2::new(CtapHid::init(UsbipDevice::import(
            addr, busid,
        )?)?))
    }
}

impl<D: HidDevice> Ctap2<D> {
    pub fn new(hid: CtapHid<D>) -> Self {
        Ctap2 {
            hid,
            last_request: None,
        }
    }

    pub fn hid(&mut self) -> &mut CtapHid<D> {
        &mut self.hid
    }

    pub fn into_hid(self) -> CtapHid<D> {
        self.hid
    }

    /// Sends a CTAP2 command; a non-zero status is [`Error::Ctap`], else the body.
    pub fn command(&mut self, cmd: u8, payload: &[u8]) -> Result<Vec<u8>, Error> {
        let (status, body) = self.hid.cbor(cmd, payload)?;
        if status != status::SUCCESS {
            if !body.is_empty() {
                return Err(Error::protocol(format!(
                    "CTAP2 error 0x{status:02x} carries {} body bytes",
                    body.len()
                )));
            }
            return Err(Error::Ctap(status));
        }
        Ok(body)
    }

    /// authenticatorGetInfo (§6.4).
    pub fn get_info(&mut self) -> Result<Info, Error> {
        Info::parse(&self.command(command::GET_INFO, &[])?)
    }

    /// authenticatorMakeCredential (§6.1), verified.
    pub fn make_credential(&mut self, req: &MakeCredentialRequest) -> Result<Attestation, Error> {
        let body = self.command(command::MAKE_CREDENTIAL, &req.encode())?;
        Attestation::parse(&body, req)
    }

    /// authenticatorGetAssertion (§6.2), parsed and checked; call
    /// [`Assertion::verify`] with the credential's key to check the signature.
    pub fn get_assertion(&mut self, req: &GetAssertionRequest) -> Result<Assertion, Error> {
        self.last_request = None;
        let body = self.command(command::GET_ASSERTION, &req.encode())?;
        let a = Assertion::parse(&body, &req.rp_id, &req.allow_list, req.up)?;
        self.last_request = Some(req.clone());
        Ok(a)
    }

    /// authenticatorGetNextAssertion (§6.3) after a getAssertion on this session.
    pub fn get_next_assertion(&mut self) -> Result<Assertion, Error> {
        let req = self
            .last_request
            .clone()
            .ok_or_else(|| Error::Usage("getNextAssertion without a prior getAssertion".into()))?;
        let body = self.command(command::GET_NEXT_ASSERTION, &[])?;
        let a = Assertion::parse(&body, &req.rp_id, &req.allow_list, req.up)?;
        if a.number_of_credentials.is_some() {
            // §6.2.2: numberOfCredentials only in the first response.
            return Err(Error::cbor(
                "getNextAssertion response carries numberOfCredentials",
            ));
        }
        Ok(a)
    }

    /// authenticatorReset (§6.6); the response body must be empty.
    pub fn reset(&mut self) -> Result<(), Error> {
        let body = self.command(command::RESET, &[])?;
        if !body.is_empty() {
            return Err(Error::protocol("reset success carries a body"));
        }
        Ok(())
    }
}
