//! The platform side of authenticatorClientPIN with PIN/UV auth protocol 2
//! (CTAP 2.1 §6.5.5, §6.5.7): key agreement, setPIN, getPINRetries and
//! getPinToken, enough to set a PIN and to try one (right or wrong) over
//! the wire as a real platform does.

use ciborium::Value;

use super::cbor::{self, MapView, as_uint, int};
use super::pin_protocol::{Protocol, Shared, encapsulate, pin_hash};
use super::{Ctap2, command};
use crate::Error;
use crate::ctaphid::HidDevice;

/// PIN/UV auth protocol 2 (§6.5.7).
const PROTOCOL: i64 = 2;

mod sub {
    pub const GET_PIN_RETRIES: i64 = 0x01;
    pub const GET_KEY_AGREEMENT: i64 = 0x02;
    pub const SET_PIN: i64 = 0x03;
    pub const GET_PIN_TOKEN: i64 = 0x05;
}

impl<D: HidDevice> Ctap2<D> {
    /// getPINRetries (§6.5.5.2): the retries left.
    pub fn pin_retries(&mut self) -> Result<u64, Error> {
        let body = self.client_pin(vec![(1, int(PROTOCOL)), (2, int(sub::GET_PIN_RETRIES))])?;
        let value = cbor::decode_canonical(&body)?;
        as_uint(
            MapView::new(&value, "getPINRetries response")?.require_int(3)?,
            "pinRetries",
        )
    }

    /// setPIN (§6.5.5.5).
    pub fn set_pin(&mut self, pin: &str) -> Result<(), Error> {
        let (platform_key, shared) = self.key_agreement()?;
        let mut padded = [0u8; 64];
        padded
            .get_mut(..pin.len())
            .ok_or_else(|| Error::Usage("a PIN is at most 63 bytes".into()))?
            .copy_from_slice(pin.as_bytes());
        let new_pin_enc = shared.encrypt(&padded)?;
        let param = shared.authenticate(&new_pin_enc);
        self.client_pin(vec![
            (1, int(PROTOCOL)),
            (2, int(sub::SET_PIN)),
            (3, platform_key),
            (4, Value::Bytes(param)),
            (5, Value::Bytes(new_pin_enc)),
        ])
        .map(|_| ())
    }

    /// getPinToken (§6.5.5.7.1) with `pin`: `Ok` if the key took it (the
    /// token itself is not needed here), the CTAP error otherwise.
    pub fn try_pin(&mut self, pin: &str) -> Result<(), Error> {
        let (platform_key, shared) = self.key_agreement()?;
        let pin_hash_enc = shared.encrypt(&pin_hash(pin))?;
        self.client_pin(vec![
            (1, int(PROTOCOL)),
            (2, int(sub::GET_PIN_TOKEN)),
            (3, platform_key),
            (6, Value::Bytes(pin_hash_enc)),
        ])
        .map(|_| ())
    }

    fn client_pin(&mut self, pairs: Vec<(i64, Value)>) -> Result<Vec<u8>, Error> {
        let map = Value::Map(pairs.into_iter().map(|(k, v)| (int(k), v)).collect());
        self.command(command::CLIENT_PIN, &cbor::encode(&map))
    }

    /// getKeyAgreement, then the platform half of ECDH: the platform's
    /// COSE key and the shared secret (§6.5.7 `encapsulate`).
    fn key_agreement(&mut self) -> Result<(Value, Shared), Error> {
        let body = self.client_pin(vec![(1, int(PROTOCOL)), (2, int(sub::GET_KEY_AGREEMENT))])?;
        let value = cbor::decode_canonical(&body)?;
        let response = MapView::new(&value, "getKeyAgreement response")?;
        encapsulate(response.require_int(1)?, Protocol::Two)
    }
}
