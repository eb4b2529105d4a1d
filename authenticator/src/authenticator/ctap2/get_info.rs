//! authenticatorGetInfo (CTAP 2.1 §6.4). It must tell the truth: every
//! member describes what this build implements and the device's current
//! settings (PIN set, alwaysUv, minPINLength, forcePINChange, ...). It
//! reads the store but never writes to it.

use crate::Authenticator;
use crate::attestation;
use crate::cbor::Value;
use crate::credential::MAX_CREDENTIAL_ID_LEN;
use crate::env::Env;
use crate::error::Error;
use crate::extensions::{self, cred_blob::MAX_CRED_BLOB_LENGTH};
use crate::keys;
use crate::large_blob_array::MAX_SERIALIZED_LARGE_BLOB_ARRAY;
use crate::pin::{DeviceSettings, persistent};
use crate::profile::CtapVersion;
use crate::record;

/// The most maxCredentialCountInList (0x07) says. Platforms batch longer
/// exclude/allow lists; we also accept longer lists when sent.
pub const MAX_CREDENTIAL_COUNT_IN_LIST: u64 = 16;
/// A credential descriptor with the longest ID we issue, CBOR-encoded:
/// `{"id": bstr, "type": "public-key"}` adds 23 bytes to the ID.
const LONGEST_DESCRIPTOR: usize = MAX_CREDENTIAL_ID_LEN + 23;
/// What a makeCredential holds besides its exclude list, generously: the
/// hash, rp and user entities (names of up to 64 bytes), every algorithm,
/// the extensions and a pinUvAuthParam.
const REQUEST_WITHOUT_LIST: usize = 768;
/// PIN/UV auth protocols in our order of preference (0x06, §6.4: "in
/// order of decreasing authenticator preference").
const PIN_UV_AUTH_PROTOCOLS: [u64; 2] = [2, 1];
/// preferredPlatformUvAttempts (0x11) of a key with built-in UV.
const PREFERRED_PLATFORM_UV_ATTEMPTS: u64 = 3;
/// uvModality (0x12): the FIDO Registry's USER_VERIFY_FINGERPRINT_INTERNAL,
/// what a key with built-in UV most often is, and what the W3C and CDP
/// virtual authenticators' `hasUserVerification` stands for.
const UV_MODALITY_FINGERPRINT: u64 = 0x0000_0002;

impl Authenticator {
    pub(crate) fn get_info<E: Env>(&mut self, env: &mut E) -> Result<Value, Error> {
        let usize_value = |n: usize| Value::Unsigned(u64::try_from(n).unwrap_or(u64::MAX));
        let pin_set = self.pin_is_set(env)?;
        let config = DeviceSettings::load(env.store())?;
        // A CTAP 2.0 key (a test-lab profile) lists only what 2.0 defined.
        let v21 = self.config.ctap_version != CtapVersion::Ctap20;
        let large_blobs = v21 && self.config.extensions.large_blob;
        let mut options = vec![
            ("rk", Value::Bool(self.config.resident_keys)),
            ("up", Value::Bool(true)),
            ("plat", Value::Bool(false)),
            ("clientPin", Value::Bool(pin_set)),
        ];
        // Built-in UV, enrolled: a test-lab key's `hasUserVerification`.
        if self.config.built_in_uv {
            options.push(("uv", Value::Bool(true)));
        }
        if v21 {
            options.extend([
                ("pinUvAuthToken", Value::Bool(true)),
                ("credMgmt", Value::Bool(true)),
                ("authnrCfg", Value::Bool(true)),
                ("alwaysUv", Value::Bool(config.always_uv)),
                // §7.2.3: with alwaysUv on, makeCredUvNotRqd must be false.
                ("makeCredUvNotRqd", Value::Bool(!config.always_uv)),
                ("setMinPINLength", Value::Bool(true)),
                // CTAP 2.2: the persistent read-only credential management
                // token (pin/persistent.rs).
                ("perCredMgmtRO", Value::Bool(true)),
            ]);
        }
        if large_blobs {
            options.push(("largeBlobs", Value::Bool(true)));
        }
        // "ep" only when an enterprise attestation can be produced: a batch
        // attestation is provisioned and RP ids are configured for it.
        if v21 && attestation::enterprise_attestation_capable(env)? {
            options.push(("ep", Value::Bool(config.enterprise_attestation)));
        }
        let mut versions = vec![Value::text("U2F_V2"), Value::text("FIDO_2_0")];
        if v21 {
            versions.push(Value::text("FIDO_2_1"));
        }
        if self.config.ctap_version == CtapVersion::Ctap22 {
            versions.push(Value::text("FIDO_2_2"));
        }
        let protocols: &[u64] = if v21 { &PIN_UV_AUTH_PROTOCOLS } else { &[1] };
        let mut info = vec![
            (0x01, Value::Array(versions)),
            (
                0x02,
                Value::Array(
                    extensions::SUPPORTED
                        .iter()
                        .filter(|e| self.has_extension(e))
                        .map(|e| Value::text(e))
                        .collect(),
                ),
            ),
            (0x03, Value::bytes(&self.config.aaguid)),
            (0x04, Value::text_map(options)),
            (0x05, usize_value(self.max_msg_size())),
            (
                0x06,
                Value::Array(protocols.iter().map(|&p| Value::Unsigned(p)).collect()),
            ),
            (
                0x07,
                Value::Unsigned(credential_count_in_list(self.max_msg_size())),
            ),
            (0x08, usize_value(MAX_CREDENTIAL_ID_LEN)),
            (
                0x09,
                Value::Array(
                    self.config
                        .transports
                        .iter()
                        .map(|t| Value::text(t))
                        .collect(),
                ),
            ),
            (0x0A, keys::algorithms_info(&self.config.algorithms)),
        ];
        if large_blobs {
            info.push((0x0B, usize_value(MAX_SERIALIZED_LARGE_BLOB_ARRAY)));
        }
        if v21 {
            info.push((0x0C, Value::Bool(config.force_pin_change)));
            info.push((0x0D, Value::Unsigned(u64::from(config.min_pin_length))));
        }
        if self.has_extension(extensions::CRED_BLOB) {
            info.push((0x0F, usize_value(MAX_CRED_BLOB_LENGTH)));
        }
        if v21 && self.config.built_in_uv {
            // preferredPlatformUvAttempts: each request is one attempt, so
            // a platform may ask a few times before falling back to the PIN.
            info.push((0x11, Value::Unsigned(PREFERRED_PLATFORM_UV_ATTEMPTS)));
            info.push((0x12, Value::Unsigned(UV_MODALITY_FINGERPRINT)));
        }
        if v21 {
            let remaining = if self.config.resident_keys {
                record::remaining(env.store(), self.config.max_discoverable_credentials)?
            } else {
                0
            };
            info.push((0x14, Value::Unsigned(remaining)));
        }
        // CTAP 2.2 encIdentifier and encCredStoreState, once a persistent
        // token exists to encrypt them under (fresh IVs on every call).
        if let Some(encrypted) = v21
            .then(|| persistent::info_values(env))
            .transpose()?
            .flatten()
        {
            info.push((0x19, Value::Bytes(encrypted.identifier)));
            info.push((0x1E, Value::Bytes(encrypted.cred_store_state)));
        }
        Ok(Value::int_map(info))
    }
}

/// maxCredentialCountInList (0x07): as many of the longest descriptors as
/// fit in a message of `max_msg_size` beside the rest of a request, so
/// that a platform which batches its lists by it (Chromium does) never
/// sends more than maxMsgSize; between 1 and [`MAX_CREDENTIAL_COUNT_IN_LIST`].
fn credential_count_in_list(max_msg_size: usize) -> u64 {
    let fits = max_msg_size.saturating_sub(REQUEST_WITHOUT_LIST) / LONGEST_DESCRIPTOR;
    u64::try_from(fits)
        .unwrap_or(u64::MAX)
        .clamp(1, MAX_CREDENTIAL_COUNT_IN_LIST)
}

#[cfg(test)]
mod tests {
    use crate::cbor::{self, Value};
    use crate::testing::{PinClient, TestEnv};
    use crate::{Authenticator, Config};

    fn info(a: &mut Authenticator, env: &mut TestEnv) -> Value {
        let out = a.process_cbor(env, &[0x04]);
        assert_eq!(out[0], 0x00);
        let v = cbor::decode(&out[1..]).unwrap();
        // Canonical: re-encoding the strictly decoded value is byte-identical.
        assert_eq!(cbor::encode(&v), out[1..]);
        v
    }

    fn option(v: &Value, name: &str) -> Option<Value> {
        v.get(&Value::Unsigned(4))?.get(&Value::text(name)).cloned()
    }

    #[test]
    fn a_smaller_max_msg_size_shortens_the_lists_it_allows() {
        let mut env = TestEnv::new(0);
        let mut sizes = |max_msg_size: usize| {
            let mut a = Authenticator::new(Config {
                max_msg_size,
                ..Config::default()
            });
            let v = info(&mut a, &mut env);
            let get = |k: u64| v.get(&Value::Unsigned(k)).cloned();
            (get(5), get(7))
        };
        let n = Value::Unsigned;
        assert_eq!(sizes(7609), (Some(n(7609)), Some(n(16))));
        // A uhid device's 31 reports: three of the longest descriptors
        // (310 bytes each) beside 768 bytes of the rest.
        assert_eq!(sizes(1827), (Some(n(1827)), Some(n(3))));
        // Held to what CTAP allows and CTAPHID carries.
        assert_eq!(sizes(100), (Some(n(1024)), Some(n(1))));
        assert_eq!(sizes(100_000), (Some(n(7609)), Some(n(16))));
        // Every list it allows fits beside the rest of a request.
        for size in [1024, 1200, 1827, 4096, 7609] {
            let count = super::credential_count_in_list(size) as usize;
            assert!(
                count * super::LONGEST_DESCRIPTOR + super::REQUEST_WITHOUT_LIST <= size
                    || count == 1
            );
        }
    }

    #[test]
    fn get_info_is_canonical_and_truthful() {
        let mut env = TestEnv::new(0);
        let mut a = Authenticator::new(Config {
            aaguid: [7; 16],
            ..Config::default()
        });
        let v = info(&mut a, &mut env);
        let get = |k: u64| v.get(&Value::Unsigned(k)).cloned();
        let texts = |xs: &[&str]| Value::Array(xs.iter().map(|x| Value::text(x)).collect());
        assert_eq!(get(1), Some(texts(&["U2F_V2", "FIDO_2_0", "FIDO_2_1"])));
        assert_eq!(
            get(2),
            Some(texts(&[
                "credProtect",
                "hmac-secret",
                "hmac-secret-mc",
                "credBlob",
                "largeBlobKey",
                "minPinLength",
                "thirdPartyPayment",
            ]))
        );
        assert_eq!(get(3), Some(Value::bytes(&[7; 16])));
        for (name, value) in [
            ("rk", true),
            ("up", true),
            ("plat", false),
            ("clientPin", false),
            ("pinUvAuthToken", true),
            ("credMgmt", true),
            ("authnrCfg", true),
            ("largeBlobs", true),
            ("alwaysUv", false),
            ("makeCredUvNotRqd", true),
            ("setMinPINLength", true),
        ] {
            assert_eq!(option(&v, name), Some(Value::Bool(value)), "{name}");
        }
        assert_eq!(option(&v, "ep"), None, "no batch attestation provisioned");
        assert_eq!(option(&v, "uv"), None, "no built-in UV");
        assert_eq!(get(5), Some(Value::Unsigned(7609)));
        assert_eq!(
            get(6),
            Some(Value::Array(vec![Value::Unsigned(2), Value::Unsigned(1)]))
        );
        assert_eq!(get(7), Some(Value::Unsigned(16)));
        // The longest ID that unwraps: a v3 ID with an RSA key's primes.
        assert_eq!(get(8), Some(Value::Unsigned(287)));
        assert_eq!(get(9), Some(texts(&["usb"])));
        let algs = get(10).unwrap();
        let Value::Array(algs) = algs else { panic!() };
        let ids: Vec<Value> = algs
            .iter()
            .map(|a| a.get(&Value::text("alg")).cloned().unwrap())
            .collect();
        assert_eq!(ids, vec![Value::int(-7), Value::int(-8)]);
        assert_eq!(get(11), Some(Value::Unsigned(16384)));
        assert_eq!(get(12), Some(Value::Bool(false)));
        assert_eq!(get(13), Some(Value::Unsigned(4)));
        assert_eq!(get(15), Some(Value::Unsigned(32)));
        assert_eq!(
            get(20),
            Some(Value::Unsigned(crate::DEFAULT_MAX_DISCOVERABLE_CREDENTIALS))
        );
        // No store writes at all.
        assert_eq!(env.store.writes(), 0);
    }

    #[test]
    fn get_info_follows_the_device_state() {
        let mut env = TestEnv::new(0);
        let mut a = Authenticator::new(Config::default());
        a.power_up(&mut env);
        PinClient::new(2).set_pin(&mut a, &mut env, "1234").unwrap();
        a.toggle_always_uv(&mut env).unwrap();
        a.set_min_pin_length(&mut env, Some(6), None, false)
            .unwrap();
        let v = info(&mut a, &mut env);
        assert_eq!(option(&v, "clientPin"), Some(Value::Bool(true)));
        assert_eq!(option(&v, "alwaysUv"), Some(Value::Bool(true)));
        assert_eq!(option(&v, "makeCredUvNotRqd"), Some(Value::Bool(false)));
        assert_eq!(
            v.get(&Value::Unsigned(12)),
            Some(&Value::Bool(true)),
            "PIN shorter than 6"
        );
        assert_eq!(v.get(&Value::Unsigned(13)), Some(&Value::Unsigned(6)));
    }
}
