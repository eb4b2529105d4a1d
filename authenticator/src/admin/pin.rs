//! The PIN and the factory state, set from the host side: what the test
//! lab offers a relying-party test (and SSSD-style scripts) without driving
//! clientPIN through a platform. The rules are the key's own: a PIN is
//! minPINLength to 63 bytes of UTF-8 (CTAP 2.1 §6.5.5.5 step 7, counted in
//! code points as §6.5.5.5 says), and setting one restores the retries.
//! A running authenticator must be told (`Authenticator::power_up`) after
//! any of these, as after a power cycle.

use crate::env::Store;
use crate::error::Error;
use crate::pin::{DeviceSettings, MAX_PIN_BYTES, retries};
use crate::status::CtapError;
use crate::store_keys::{self, PIN, PIN_RETRIES};

/// Sets (or replaces) the PIN; CTAP2_ERR_PIN_POLICY_VIOLATION for one
/// shorter than minPINLength or longer than 63 bytes.
pub fn provision_pin<S: Store>(store: &mut S, pin: &str) -> Result<(), Error> {
    let min = DeviceSettings::load(store)?.min_pin_length;
    let code_points =
        u8::try_from(pin.chars().count()).map_err(|_| CtapError::PinPolicyViolation)?;
    if code_points < min || pin.len() > MAX_PIN_BYTES {
        return Err(CtapError::PinPolicyViolation.into());
    }
    retries::save_pin(store, pin.as_bytes(), code_points)
}

/// Sets pinRetries (0 to 8; 0 blocks the PIN as eight wrong ones would):
/// how a test reaches a nearly blocked or blocked key without typing wrong
/// PINs. CTAP2_ERR_PIN_NOT_SET without a PIN.
pub fn set_pin_retries<S: Store>(store: &mut S, left: u8) -> Result<(), Error> {
    if retries::load_pin(store)?.is_none() {
        return Err(CtapError::PinNotSet.into());
    }
    if left > retries::MAX_PIN_RETRIES {
        return Err(CtapError::InvalidParameter.into());
    }
    retries::set_retries(store, left)
}

/// Turns alwaysUv on or off (CTAP 2.1 §7.2.3), as authenticatorConfig's
/// toggleAlwaysUv would with a PIN-verified token.
pub fn set_always_uv<S: Store>(store: &mut S, on: bool) -> Result<(), Error> {
    let mut settings = DeviceSettings::load(store)?;
    settings.always_uv = on;
    settings.save(store)
}

/// Removes the PIN and its retry counter, keeping the credentials: a key
/// with no PIN (on a real key only a reset does this).
pub fn remove_pin<S: Store>(store: &mut S) -> Result<(), Error> {
    store.apply(&[
        crate::env::StoreChange::Delete(PIN.to_vec()),
        crate::env::StoreChange::Delete(PIN_RETRIES.to_vec()),
    ])?;
    Ok(())
}

/// authenticatorReset's change to the store (CTAP 2.1 §6.6): every
/// credential, the PIN and the settings gone, in one batch.
pub fn factory_reset<S: Store>(store: &mut S) -> Result<(), Error> {
    let batch = store_keys::factory_reset_batch(store)?;
    store.apply(&batch)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryStore;

    #[test]
    fn provision_checks_the_policy_and_remove_and_reset_clear() {
        let mut store = MemoryStore::new();
        assert_eq!(
            provision_pin(&mut store, "123").unwrap_err(),
            CtapError::PinPolicyViolation
        );
        assert!(provision_pin(&mut store, &"9".repeat(64)).is_err());
        assert_eq!(
            set_pin_retries(&mut store, 3).unwrap_err(),
            CtapError::PinNotSet
        );
        provision_pin(&mut store, "1234").unwrap();
        assert!(retries::load_pin(&store).unwrap().is_some());
        set_pin_retries(&mut store, 2).unwrap();
        assert_eq!(retries::retries(&store).unwrap(), 2);
        assert!(set_pin_retries(&mut store, 9).is_err());
        set_always_uv(&mut store, true).unwrap();
        assert!(DeviceSettings::load(&store).unwrap().always_uv);
        remove_pin(&mut store).unwrap();
        assert!(retries::load_pin(&store).unwrap().is_none());
        provision_pin(&mut store, "éééé").unwrap();
        factory_reset(&mut store).unwrap();
        assert!(retries::load_pin(&store).unwrap().is_none());
    }
}
