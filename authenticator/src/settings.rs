//! The device settings that authenticatorConfig changes and getInfo reports
//! (CTAP 2.1 §6.11, §6.4): minPINLength, minPinLengthRPIDs, forcePINChange,
//! alwaysUv and enterprise attestation. Not PIN state: alwaysUv and ep
//! concern every command.
//!
//! Stored under [`crate::store_keys::DEVICE_SETTINGS`] (`device/config`) as a canonical CBOR map
//! `{1: minPINLength, 2: [rp ids], 3: forcePINChange, 4: alwaysUv, 5: ep}`;
//! an absent record is the factory default. Unknown keys are ignored.

use crate::cbor::fields::{self, Fields, optional};
use crate::cbor::{self, Value};
use crate::env::{Store, StoreError};
use crate::error::Error;
use crate::store_keys::DEVICE_SETTINGS;

/// §6.4 minPINLength: "the default ... is 4 Unicode code points".
pub(crate) const DEFAULT_MIN_PIN_LENGTH: u8 = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceSettings {
    pub(crate) min_pin_length: u8,
    pub(crate) min_pin_length_rp_ids: Vec<String>,
    pub(crate) force_pin_change: bool,
    pub(crate) always_uv: bool,
    pub(crate) enterprise_attestation: bool,
}

impl Default for DeviceSettings {
    fn default() -> Self {
        DeviceSettings {
            min_pin_length: DEFAULT_MIN_PIN_LENGTH,
            min_pin_length_rp_ids: Vec::new(),
            force_pin_change: false,
            always_uv: false,
            enterprise_attestation: false,
        }
    }
}

impl DeviceSettings {
    pub(crate) fn load<S: Store>(store: &S) -> Result<Self, Error> {
        match store.get(DEVICE_SETTINGS)? {
            None => Ok(DeviceSettings::default()),
            Some(raw) => {
                Ok(Self::decode(&raw)
                    .ok_or_else(|| StoreError::corrupt("device settings record"))?)
            }
        }
    }

    pub(crate) fn save<S: Store>(&self, store: &mut S) -> Result<(), Error> {
        store.put(DEVICE_SETTINGS, &self.encode())?;
        Ok(())
    }

    fn encode(&self) -> Vec<u8> {
        cbor::encode(&Value::int_map(vec![
            (1, Value::Unsigned(u64::from(self.min_pin_length))),
            (
                2,
                Value::Array(
                    self.min_pin_length_rp_ids
                        .iter()
                        .map(|r| Value::text(r))
                        .collect(),
                ),
            ),
            (3, Value::Bool(self.force_pin_change)),
            (4, Value::Bool(self.always_uv)),
            (5, Value::Bool(self.enterprise_attestation)),
        ]))
    }

    fn decode(raw: &[u8]) -> Option<Self> {
        let value = cbor::decode(raw).ok()?;
        let f = Fields::of(&value).ok()?;
        let flag = |k| {
            optional(f.int(k), fields::boolean)
                .ok()
                .map(|b| b.unwrap_or(false))
        };
        let rp_ids = match f.int(2) {
            None => Vec::new(),
            Some(v) => fields::array(v)
                .ok()?
                .iter()
                .map(|r| fields::text(r).ok().map(str::to_owned))
                .collect::<Option<Vec<_>>>()?,
        };
        Some(DeviceSettings {
            min_pin_length: match optional(f.int(1), fields::unsigned).ok()? {
                None => DEFAULT_MIN_PIN_LENGTH,
                Some(n) => u8::try_from(n).ok()?,
            },
            min_pin_length_rp_ids: rp_ids,
            force_pin_change: flag(3)?,
            always_uv: flag(4)?,
            enterprise_attestation: flag(5)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::CtapError;
    use crate::testing::MemoryStore;

    #[test]
    fn default_when_absent_round_trip_and_clear() {
        let mut s = MemoryStore::new();
        assert_eq!(DeviceSettings::load(&s).unwrap(), DeviceSettings::default());
        let c = DeviceSettings {
            min_pin_length: 6,
            min_pin_length_rp_ids: vec!["example.com".into()],
            force_pin_change: true,
            always_uv: true,
            enterprise_attestation: true,
        };
        c.save(&mut s).unwrap();
        assert_eq!(DeviceSettings::load(&s).unwrap(), c);
        s.delete(DEVICE_SETTINGS).unwrap();
        assert_eq!(DeviceSettings::load(&s).unwrap().min_pin_length, 4);
    }

    #[test]
    fn corrupt_record_is_an_error() {
        let mut s = MemoryStore::new();
        s.put(DEVICE_SETTINGS, &[0xA1, 0x01, 0x19, 0x01, 0x00])
            .unwrap();
        assert_eq!(DeviceSettings::load(&s).unwrap_err(), CtapError::Other);
        s.put(DEVICE_SETTINGS, b"\xFF").unwrap();
        assert!(DeviceSettings::load(&s).is_err());
    }
}
