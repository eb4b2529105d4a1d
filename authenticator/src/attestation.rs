//! Attestation for makeCredential (CTAP 2.1 §6.1.2 step 9 enterpriseAttestation,
//! step 19 attestation statement, §7.1 enterprise attestation; CTAP 2.2
//! §6.1.2 attestationFormatsPreference) and fido-u2f (U2F Raw Message
//! Formats §4.3).
//!
//! Formats (WebAuthn §8.2 packed, §8.7 none):
//! - packed self attestation, the default: `{alg: <credential alg>, sig}`,
//!   signed by the credential key itself;
//! - packed batch attestation: `{alg: -7, sig, x5c: [leaf]}`, signed by the
//!   batch key that `softkey init` provisions ([`crate::attestation_ca`]);
//!   chosen when the vault's attestation mode says so;
//! - `none` (`{}`), when attestationFormatsPreference asks for it first;
//! - enterprise attestation (CTAP 2.1 §7.1): packed with the device's own
//!   enterprise leaf (not the shared batch one), with `epAtt: true` in the
//!   response — vendor-facilitated for the RP ids configured in
//!   `device/ep-rp-ids`, platform-managed for any RP id the platform asks
//!   for (the platform holds the enterprise's list).
//!
//! Device settings (written by the binary, read per request):
//! `device/attestation-mode` = `self` | `batch`; `device/ep-rp-ids` = a
//! CBOR array of RP id strings.

use core::fmt;
use core::str::FromStr;

use p256::ecdsa::SigningKey;

use crate::attestation_ca;
use crate::attestation_formats;
use crate::auth_data;
use crate::cbor::{self, Value};
use crate::env::{Env, Store, StoreError};
use crate::error::Error;
use crate::keys::{Algorithm, CredentialKey};
use crate::status::CtapError;
use crate::store_keys::{ATTESTATION_MODE, ENTERPRISE_RP_IDS};

/// Which attestation statement makeCredential returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttestationChoice {
    SelfPacked,
    BatchPacked,
    None,
    /// Packed batch, and the response carries `epAtt: true` (0x04).
    Enterprise,
    /// fido-u2f (a test-lab key; `attestation_formats`).
    FidoU2f,
    /// apple (a test-lab key).
    Apple,
    /// android-key (a test-lab key).
    AndroidKey,
    /// tpm (a test-lab key).
    Tpm,
}

impl AttestationChoice {
    /// Whether the makeCredential response sets epAtt (CTAP 2.1 §6.1.2
    /// step 19: only when an enterprise attestation is returned).
    pub(crate) fn ep_att(self) -> bool {
        self == AttestationChoice::Enterprise
    }
}

/// The configured default attestation (a vault setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttestationMode {
    /// Packed self attestation: reveals nothing beyond the AAGUID.
    #[default]
    SelfAttestation,
    /// Packed batch attestation under the vault's attestation CA.
    Batch,
    /// fido-u2f under the key's test CA (test-lab keys only).
    FidoU2f,
    /// apple, a certificate per credential from the key's test CA (test-lab keys only).
    Apple,
    /// android-key, likewise (test-lab keys only).
    AndroidKey,
    /// tpm, as a software TPM (test-lab keys only).
    Tpm,
    /// none (WebAuthn §8.7): no statement at all, as a platform that strips
    /// attestation passes it on (test-lab keys only).
    NoAttestation,
}

impl AttestationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AttestationMode::SelfAttestation => "self",
            AttestationMode::Batch => "batch",
            AttestationMode::FidoU2f => "fido-u2f",
            AttestationMode::Apple => "apple",
            AttestationMode::AndroidKey => "android-key",
            AttestationMode::Tpm => "tpm",
            AttestationMode::NoAttestation => "none",
        }
    }
}

impl fmt::Display for AttestationMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AttestationMode {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, StoreError> {
        match s {
            "self" => Ok(AttestationMode::SelfAttestation),
            "batch" => Ok(AttestationMode::Batch),
            "fido-u2f" => Ok(AttestationMode::FidoU2f),
            "apple" => Ok(AttestationMode::Apple),
            "android-key" => Ok(AttestationMode::AndroidKey),
            "tpm" => Ok(AttestationMode::Tpm),
            "none" => Ok(AttestationMode::NoAttestation),
            other => Err(StoreError::corrupt(format!(
                "unknown attestation mode {other:?} (self, batch, fido-u2f, apple, android-key, tpm or none)"
            ))),
        }
    }
}

/// Records the default attestation mode in the store.
pub fn set_attestation_mode<S: Store + ?Sized>(
    store: &mut S,
    mode: AttestationMode,
) -> Result<(), StoreError> {
    store.put(ATTESTATION_MODE, mode.as_str().as_bytes())
}

/// The stored default attestation mode (self when never set).
pub fn attestation_mode<S: Store + ?Sized>(store: &S) -> Result<AttestationMode, StoreError> {
    match store.get(ATTESTATION_MODE)? {
        None => Ok(AttestationMode::default()),
        Some(raw) => core::str::from_utf8(&raw)
            .map_err(|_| StoreError::corrupt("attestation mode record"))?
            .parse(),
    }
}

/// Records the RP ids that get enterprise attestation (vendor-facilitated,
/// CTAP 2.1 §7.1.1) once authenticatorConfig enables it. Empty clears.
pub fn set_enterprise_rp_ids<S: Store + ?Sized>(
    store: &mut S,
    rp_ids: &[String],
) -> Result<(), StoreError> {
    if rp_ids.is_empty() {
        store.delete(ENTERPRISE_RP_IDS)?;
        return Ok(());
    }
    let list = Value::Array(rp_ids.iter().map(|id| Value::text(id)).collect());
    store.put(ENTERPRISE_RP_IDS, &cbor::encode(&list))
}

/// The RP ids configured for enterprise attestation.
pub fn enterprise_rp_ids<S: Store + ?Sized>(store: &S) -> Result<Vec<String>, StoreError> {
    let Some(raw) = store.get(ENTERPRISE_RP_IDS)? else {
        return Ok(Vec::new());
    };
    let corrupt = || StoreError::corrupt("enterprise RP id record");
    match cbor::decode(&raw).map_err(|_| corrupt())? {
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Text(id) => Ok(id),
                _ => Err(corrupt()),
            })
            .collect(),
        _ => Err(corrupt()),
    }
}

/// Whether an enterprise attestation certificate is provisioned (getInfo
/// may advertise "ep" only then). Vaults provisioned before enterprise
/// attestation had its own leaf have a batch certificate only.
pub(crate) fn enterprise_provisioned<S: Store + ?Sized>(store: &S) -> Result<bool, Error> {
    Ok(attestation_ca::load_batch(store)?.is_some_and(|b| b.enterprise.is_some()))
}

/// Whether an enterprise attestation can be produced: its certificate is
/// provisioned and the user configured enterprise attestation (RP ids for
/// the vendor-facilitated mode). It decides both getInfo's "ep" option
/// (§6.4) and whether authenticatorConfig supports
/// enableEnterpriseAttestation (§6.11.1).
pub(crate) fn enterprise_attestation_capable<E: Env>(env: &mut E) -> Result<bool, Error> {
    Ok(enterprise_provisioned(env.store())? && !enterprise_rp_ids(env.store())?.is_empty())
}

/// The attestation for one makeCredential request. Call it at step 9 —
/// before asking for user presence — so its errors come first:
///
/// - step 9.1: enterpriseAttestation present but ep not enabled (or not
///   capable): CTAP1_ERR_INVALID_PARAMETER;
/// - step 9.2: a value other than 1 or 2: CTAP2_ERR_INVALID_OPTION;
/// - steps 9.3–9.4: vendor-facilitated (1) for an RP id in the configured
///   list; platform-managed (2) for any RP id, since the platform enforces
///   the enterprise's list (§7.1.2; python-fido2 sends 2 only for RP ids on
///   its own list). Otherwise the parameter is treated as absent and the
///   ordinary choice follows;
/// - attestationFormatsPreference (CTAP 2.2): the first format we support
///   wins ("none" → none, "packed" → the default); none supported, an empty
///   or absent list → the default;
/// - the default: packed batch when the mode says batch and a batch
///   attestation is provisioned, else packed self.
#[allow(clippy::too_many_arguments)] // every input of the rule, kept pure for tests
pub(crate) fn choose_attestation(
    preference: Option<&[String]>,
    enterprise: Option<u64>,
    ep_enabled: bool,
    rp_id: &str,
    ep_rp_ids: &[String],
    batch_provisioned: bool,
    mode: AttestationMode,
) -> Result<AttestationChoice, CtapError> {
    if let Some(ep) = enterprise {
        // ep is only ever enabled on a key with an enterprise certificate.
        if !ep_enabled {
            return Err(CtapError::InvalidParameter);
        }
        let listed = ep_rp_ids.iter().any(|id| id == rp_id);
        match ep {
            1 if listed => return Ok(AttestationChoice::Enterprise),
            2 => return Ok(AttestationChoice::Enterprise),
            1 => {}
            _ => return Err(CtapError::InvalidOption),
        }
    }
    let default = match (mode, batch_provisioned) {
        (AttestationMode::Batch, true) => AttestationChoice::BatchPacked,
        (AttestationMode::FidoU2f, _) => AttestationChoice::FidoU2f,
        (AttestationMode::Apple, _) => AttestationChoice::Apple,
        (AttestationMode::AndroidKey, _) => AttestationChoice::AndroidKey,
        (AttestationMode::Tpm, _) => AttestationChoice::Tpm,
        (AttestationMode::NoAttestation, _) => AttestationChoice::None,
        _ => AttestationChoice::SelfPacked,
    };
    for format in preference.unwrap_or_default() {
        match format.as_str() {
            "none" => return Ok(AttestationChoice::None),
            "packed" => return Ok(default),
            _ => {}
        }
    }
    Ok(default)
}

/// [`choose_attestation`] with the device settings read from the store.
pub(crate) fn choose_for_request<E: Env>(
    env: &mut E,
    preference: Option<&[String]>,
    enterprise: Option<u64>,
    ep_enabled: bool,
    rp_id: &str,
) -> Result<AttestationChoice, Error> {
    let store = env.store();
    let batch = store.get(crate::store_keys::ATTESTATION)?.is_some();
    let mode = attestation_mode(store)?;
    let ep_rp_ids = match enterprise {
        Some(_) => enterprise_rp_ids(store)?,
        None => Vec::new(),
    };
    // ep counts as enabled only while the key can still attest: the RP
    // list may have been emptied since authenticatorConfig enabled it.
    let ep_enabled = ep_enabled
        && enterprise.is_some()
        && !ep_rp_ids.is_empty()
        && enterprise_provisioned(store)?;
    Ok(choose_attestation(
        preference, enterprise, ep_enabled, rp_id, &ep_rp_ids, batch, mode,
    )?)
}

/// The attestation statement (step 19): `(fmt, attStmt)` over
/// `authData || clientDataHash`.
pub(crate) fn statement<E: Env>(
    env: &mut E,
    choice: AttestationChoice,
    key: &CredentialKey,
    auth_data: &[u8],
    client_data_hash: &[u8; 32],
) -> Result<(String, Value), Error> {
    let p256 = attestation_formats::p256_public(key).is_some();
    match choice {
        AttestationChoice::None => Ok(("none".into(), Value::Map(Vec::new()))),
        AttestationChoice::FidoU2f if p256 => {
            attestation_formats::fido_u2f(env, key, auth_data, client_data_hash)
        }
        AttestationChoice::Apple if p256 => {
            attestation_formats::apple(env, key, auth_data, client_data_hash)
        }
        AttestationChoice::AndroidKey if p256 => {
            attestation_formats::android_key(env, key, auth_data, client_data_hash)
        }
        AttestationChoice::Tpm if p256 => {
            attestation_formats::tpm(env, key, auth_data, client_data_hash)
        }
        // Those formats certify P-256 keys; any other credential gets
        // packed self attestation.
        AttestationChoice::SelfPacked
        | AttestationChoice::FidoU2f
        | AttestationChoice::Apple
        | AttestationChoice::AndroidKey
        | AttestationChoice::Tpm => {
            // WebAuthn §8.2: self attestation, alg of the credential key, no x5c.
            let sig = auth_data::sign(key, auth_data, client_data_hash);
            Ok((
                "packed".into(),
                Value::text_map(vec![
                    ("alg", Value::int(key.algorithm().cose())),
                    ("sig", Value::Bytes(sig)),
                ]),
            ))
        }
        AttestationChoice::BatchPacked | AttestationChoice::Enterprise => {
            let batch = attestation_ca::load_batch(env.store())?.ok_or(CtapError::Other)?;
            let (key, leaf) = if choice == AttestationChoice::Enterprise {
                batch.enterprise.ok_or(CtapError::Other)?
            } else {
                (batch.key, batch.leaf_der)
            };
            let sig = auth_data::sign(&key, auth_data, client_data_hash);
            Ok((
                "packed".into(),
                Value::text_map(vec![
                    ("alg", Value::int(Algorithm::Es256.cose())),
                    ("sig", Value::Bytes(sig)),
                    ("x5c", Value::Array(vec![Value::Bytes(leaf)])),
                ]),
            ))
        }
    }
}

/// The fido-u2f attestation certificate (DER) and key: the batch leaf if
/// provisioned, else a per-device self-signed certificate, stored before
/// its first use so an RP always sees the same one.
pub(crate) fn u2f_attestation<E: Env>(env: &mut E) -> Result<(Vec<u8>, SigningKey), Error> {
    if let Some(batch) = attestation_ca::load_batch(env.store())? {
        return Ok((batch.leaf_der, batch.key));
    }
    if let Some(existing) = attestation_ca::load_u2f(env.store())? {
        return Ok(existing);
    }
    let now = env.unix_time();
    let (der, key) = attestation_ca::create_u2f(&mut |buf| env.fill_random(buf), now)?;
    attestation_ca::save_u2f(env.store(), &der, &key)?;
    Ok((der, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{SeededRng, TestEnv};
    use der::Decode;
    use p256::ecdsa::{DerSignature, VerifyingKey};
    use x509_cert::Certificate;

    use AttestationChoice::{
        AndroidKey, Apple, BatchPacked, Enterprise, FidoU2f, None as NoneFmt, SelfPacked, Tpm,
    };
    use AttestationMode::{Batch, SelfAttestation};

    const AD: &[u8] = b"authenticator data";
    const CDH: [u8; 32] = [0x33; 32];

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// choose_attestation with the common arguments defaulted.
    fn choose(
        preference: Option<&[&str]>,
        enterprise: Option<u64>,
        ep_enabled: bool,
        batch: bool,
        mode: AttestationMode,
    ) -> Result<AttestationChoice, CtapError> {
        let preference = preference.map(strings);
        choose_attestation(
            preference.as_deref(),
            enterprise,
            ep_enabled,
            "corp.example",
            &strings(&["other.example", "corp.example"]),
            batch,
            mode,
        )
    }

    fn provision(env: &mut TestEnv) {
        let mut rng = SeededRng::new(11);
        crate::provision_attestation(env.store(), &mut |b| rng.fill(b), [7; 16]).unwrap();
    }

    fn verify_es256(public: &VerifyingKey, sig: &[u8]) {
        use p256::ecdsa::signature::Verifier as _;
        let message = [AD, &CDH].concat();
        public
            .verify(&message, &DerSignature::from_bytes(sig).unwrap())
            .unwrap();
    }

    fn field<'a>(stmt: &'a Value, name: &str) -> Option<&'a Value> {
        stmt.get(&Value::text(name))
    }

    #[test]
    fn default_is_self_unless_batch_mode_with_a_batch() {
        assert_eq!(
            choose(None, None, false, false, SelfAttestation),
            Ok(SelfPacked)
        );
        assert_eq!(
            choose(None, None, false, true, SelfAttestation),
            Ok(SelfPacked)
        );
        assert_eq!(choose(None, None, false, true, Batch), Ok(BatchPacked));
        assert_eq!(choose(None, None, false, false, Batch), Ok(SelfPacked));
    }

    #[test]
    fn formats_preference_first_supported_wins() {
        for (pref, want) in [
            (&["none"][..], NoneFmt),
            (&["packed", "none"], BatchPacked),
            (&["tpm", "none", "packed"], NoneFmt),
            (&["apple", "tpm"], BatchPacked),
            (&[], BatchPacked),
        ] {
            assert_eq!(
                choose(Some(pref), None, false, true, Batch),
                Ok(want),
                "{pref:?}"
            );
        }
        assert_eq!(
            choose(Some(&["packed"]), None, false, true, SelfAttestation),
            Ok(SelfPacked)
        );
    }

    #[test]
    fn enterprise_attestation_follows_step_9() {
        // 9.1: ep not enabled → INVALID_PARAMETER, whatever the value.
        for ep in [0, 1, 2, 3] {
            assert_eq!(
                choose(None, Some(ep), false, true, Batch),
                Err(CtapError::InvalidParameter)
            );
        }
        // 9.2: only 1 and 2.
        for ep in [0, 3, u64::MAX] {
            assert_eq!(
                choose(None, Some(ep), true, true, Batch),
                Err(CtapError::InvalidOption)
            );
        }
        // 9.3/9.4: a listed RP gets it for 1 and 2, even when the
        // preference says none.
        for ep in [1, 2] {
            assert_eq!(
                choose(None, Some(ep), true, true, SelfAttestation),
                Ok(Enterprise)
            );
            assert_eq!(
                choose(Some(&["none"]), Some(ep), true, true, Batch),
                Ok(Enterprise)
            );
        }
        // An unlisted RP: vendor-facilitated (1) is treated as absent and
        // gets the ordinary choice; platform-managed (2) is the platform's
        // decision.
        let unlisted = |ep| {
            choose_attestation(
                None,
                Some(ep),
                true,
                "example.com",
                &strings(&["corp.example"]),
                true,
                SelfAttestation,
            )
        };
        assert_eq!(unlisted(1), Ok(SelfPacked));
        assert_eq!(unlisted(2), Ok(Enterprise));
        assert!(Enterprise.ep_att());
        for other in [SelfPacked, BatchPacked, NoneFmt] {
            assert!(!other.ep_att());
        }
    }

    #[test]
    fn self_packed_is_signed_by_the_credential_key_with_its_alg() {
        let mut env = TestEnv::new(1);
        for alg in crate::keys::SUPPORTED {
            let key = CredentialKey::generate(&mut env, alg).unwrap();
            let (fmt, stmt) = statement(&mut env, SelfPacked, &key, AD, &CDH).unwrap();
            assert_eq!(fmt, "packed");
            assert_eq!(field(&stmt, "alg"), Some(&Value::int(alg.cose())));
            assert_eq!(field(&stmt, "x5c"), None);
            let Some(Value::Bytes(sig)) = field(&stmt, "sig") else {
                panic!("no sig")
            };
            let cose = key.cose_public_key().unwrap();
            crate::keys::verify(&cose, &[AD, &CDH].concat(), sig)
                .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        }
    }

    #[test]
    fn none_is_an_empty_statement() {
        let mut env = TestEnv::new(1);
        let key = CredentialKey::generate(&mut env, Algorithm::EdDsa).unwrap();
        let (fmt, stmt) = statement(&mut env, NoneFmt, &key, AD, &CDH).unwrap();
        assert_eq!(fmt, "none");
        assert_eq!(stmt, Value::Map(Vec::new()));
    }

    #[test]
    fn batch_and_enterprise_carry_x5c_and_the_leaf_key_signs() {
        let mut env = TestEnv::new(2);
        let key = CredentialKey::generate(&mut env, Algorithm::EdDsa).unwrap();
        assert_eq!(
            statement(&mut env, BatchPacked, &key, AD, &CDH).unwrap_err(),
            CtapError::Other,
            "no batch provisioned"
        );
        provision(&mut env);
        let mut leaves = Vec::new();
        for choice in [BatchPacked, Enterprise] {
            let (fmt, stmt) = statement(&mut env, choice, &key, AD, &CDH).unwrap();
            assert_eq!(fmt, "packed");
            // alg is the attestation key's (ES256), not the credential's.
            assert_eq!(field(&stmt, "alg"), Some(&Value::int(-7)));
            let Some(Value::Array(x5c)) = field(&stmt, "x5c") else {
                panic!("no x5c")
            };
            let [Value::Bytes(leaf)] = x5c.as_slice() else {
                panic!("x5c is not one certificate")
            };
            leaves.push(leaf.clone());
            let leaf = Certificate::from_der(leaf).unwrap();
            let spki = leaf.tbs_certificate().subject_public_key_info();
            let public =
                VerifyingKey::from_sec1_bytes(spki.subject_public_key.raw_bytes()).unwrap();
            let Some(Value::Bytes(sig)) = field(&stmt, "sig") else {
                panic!("no sig")
            };
            verify_es256(&public, sig);
        }
        // CTAP 2.1 §7.1: the enterprise leaf is the device's own, not the
        // batch one.
        assert_ne!(leaves[0], leaves[1]);
    }

    #[test]
    fn settings_round_trip_and_feed_the_choice() {
        let mut env = TestEnv::new(3);
        assert_eq!(attestation_mode(env.store()).unwrap(), SelfAttestation);
        assert_eq!(
            enterprise_rp_ids(env.store()).unwrap(),
            Vec::<String>::new()
        );
        assert!(!enterprise_provisioned(env.store()).unwrap());
        assert_eq!(
            choose_for_request(&mut env, None, None, false, "corp.example"),
            Ok(SelfPacked)
        );
        provision(&mut env);
        assert!(enterprise_provisioned(env.store()).unwrap());
        set_attestation_mode(env.store(), Batch).unwrap();
        assert_eq!(attestation_mode(env.store()).unwrap(), Batch);
        assert_eq!(
            choose_for_request(&mut env, None, None, false, "corp.example"),
            Ok(BatchPacked)
        );
        let ids = strings(&["corp.example"]);
        set_enterprise_rp_ids(env.store(), &ids).unwrap();
        assert_eq!(enterprise_rp_ids(env.store()).unwrap(), ids);
        assert_eq!(
            choose_for_request(&mut env, None, Some(1), true, "corp.example"),
            Ok(Enterprise)
        );
        assert_eq!(
            choose_for_request(&mut env, None, Some(1), false, "corp.example"),
            Err(CtapError::InvalidParameter.into())
        );
        set_enterprise_rp_ids(env.store(), &[]).unwrap();
        assert!(env.store().get(ENTERPRISE_RP_IDS).unwrap().is_none());
        // No longer capable (getInfo drops "ep"): step 9.1, even though
        // the enabled flag is still stored.
        assert_eq!(
            choose_for_request(&mut env, None, Some(1), true, "corp.example"),
            Err(CtapError::InvalidParameter.into())
        );
        assert_eq!("self".parse::<AttestationMode>(), Ok(SelfAttestation));
        assert_eq!(
            "none".parse::<AttestationMode>(),
            Ok(AttestationMode::NoAttestation)
        );
        assert!("nothing".parse::<AttestationMode>().is_err());
        assert_eq!(Batch.to_string(), "batch");
    }

    #[test]
    fn corrupt_settings_are_errors() {
        let mut env = TestEnv::new(4);
        env.store().put(ATTESTATION_MODE, b"\xFFbatch").unwrap();
        assert!(attestation_mode(env.store()).is_err());
        env.store().put(ATTESTATION_MODE, b"safetynet").unwrap();
        assert!(attestation_mode(env.store()).is_err());
        for bad in [&b"\xA0"[..], &[0x81, 0x01], &[0xFF], &[]] {
            env.store().put(ENTERPRISE_RP_IDS, bad).unwrap();
            assert!(enterprise_rp_ids(env.store()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn u2f_uses_the_batch_leaf_or_one_stored_self_signed_certificate() {
        let mut env = TestEnv::new(5);
        let (first, key) = u2f_attestation(&mut env).unwrap();
        assert!(
            env.store()
                .get(crate::store_keys::U2F_ATTESTATION)
                .unwrap()
                .is_some()
        );
        let (again, key_again) = u2f_attestation(&mut env).unwrap();
        assert_eq!((&first, &key), (&again, &key_again), "stable across calls");
        let cert = Certificate::from_der(&first).unwrap();
        assert_eq!(
            cert.tbs_certificate().subject(),
            cert.tbs_certificate().issuer()
        );
        // Once a batch attestation exists, U2F uses its leaf.
        provision(&mut env);
        let (leaf, batch_key) = u2f_attestation(&mut env).unwrap();
        let batch = attestation_ca::load_batch(env.store()).unwrap().unwrap();
        assert_eq!(leaf, batch.leaf_der);
        assert_eq!(batch_key, batch.key);
        // A store that cannot write gives an error, not a certificate the
        // next call would not reproduce.
        let mut env = TestEnv::new(6);
        env.store().fail_next_write();
        assert!(u2f_attestation(&mut env).is_err());
    }

    #[test]
    fn lab_formats_certify_p256_keys_and_give_others_packed_self() {
        let mut env = TestEnv::new(9);
        let mut rng = SeededRng::new(3);
        crate::provision_test_attestation(env.store(), &mut |b| rng.fill(b), [7; 16]).unwrap();
        let es = CredentialKey::generate(&mut env, Algorithm::Es256).unwrap();
        let ed = CredentialKey::generate(&mut env, Algorithm::EdDsa).unwrap();
        let mut data = auth_data::auth_data(&[1; 32], 0x41, 0);
        auth_data::push_attested_credential(&mut data, &[0; 16], b"credential id", &es).unwrap();
        for (choice, fmt, x5c_len) in [
            (FidoU2f, "fido-u2f", 1),
            (Apple, "apple", 2),
            (AndroidKey, "android-key", 2),
            (Tpm, "tpm", 2),
        ] {
            let (got, stmt) = statement(&mut env, choice, &es, &data, &CDH).unwrap();
            assert_eq!(got, fmt);
            let Some(Value::Array(x5c)) = field(&stmt, "x5c") else {
                panic!("{fmt}: no x5c")
            };
            assert_eq!(x5c.len(), x5c_len, "{fmt}");
            // Another algorithm: packed self, signed by the credential key.
            let (got, stmt) = statement(&mut env, choice, &ed, AD, &CDH).unwrap();
            assert_eq!(got, "packed", "{fmt} with EdDSA");
            assert_eq!(field(&stmt, "alg"), Some(&Value::int(-8)));
        }
        // A vault's attestation keeps no CA key: apple cannot be made there.
        let mut vault = TestEnv::new(10);
        provision(&mut vault);
        assert!(statement(&mut vault, Apple, &es, &data, &CDH).is_err());
        assert!(
            attestation_ca::load_test_ca(vault.store())
                .unwrap()
                .is_none()
        );
    }
}
