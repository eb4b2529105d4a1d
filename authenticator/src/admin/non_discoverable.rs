//! Non-discoverable credentials added from the host side: the test lab's
//! Add Credential with `isResidentCredential: false` (WebAuthn Level 3
//! §11.4), whose ID the tester chooses, so it cannot be one of softkey's
//! own sealed IDs. Each is a credential record carrying its private key,
//! under `cred-nd/` (store_keys.rs): getAssertion and the excludeList find
//! it by ID as they find any credential (lookup.rs), and nothing that lists
//! discoverable credentials sees it (a usernameless login, credential
//! management, `remainingDiscoverableCredentials`, the backup), as on a real
//! key. It returns no user in an assertion (CTAP 2.1 §6.2.2 step 12).
//! authenticatorReset removes them with the rest.

use super::backup::{BackupContents, BackupCredential, BackupError, export, import};
use crate::auth_data::rp_id_hash;
use crate::credential_properties::CredentialProperties;
use crate::env::{Store, StoreChange};
use crate::error::Error;
use crate::record::{self, CredentialRecord, StoredKey};
use crate::store_keys::NON_DISCOVERABLE_CREDENTIALS;

/// Adds one non-discoverable credential, validated as a backup's would be.
/// An ID that any credential of the RP already has is refused.
pub fn add_non_discoverable<S: Store>(
    store: &mut S,
    credential: &BackupCredential,
    properties: CredentialProperties,
) -> Result<(), BackupError> {
    let contents = BackupContents {
        credentials: vec![credential.clone()],
        sign_count: 0,
        wrap_keys: Vec::new(),
        large_blob_array: None,
    };
    let keys = import::validate(&contents)?;
    let key = keys
        .first()
        .ok_or(BackupError::Corrupt("no key validated"))?;
    let hash = rp_id_hash(&credential.rp_id);
    let id = &credential.credential_id;
    if store.get(&record::key(&hash, id))?.is_some()
        || store
            .get(&record::non_discoverable_key(&hash, id))?
            .is_some()
    {
        return Err(BackupError::InvalidCredential {
            index: 0,
            reason: "a credential with this ID already exists for this RP",
        });
    }
    let device = super::backup::device::DeviceState::load(store)?;
    let mut record = import::new_record(&device.keyring(), &hash, credential, key)?;
    // Found by an ID that seals nothing: the record keeps the key.
    record.private_key = Some(StoredKey::new(key));
    record.properties = properties;
    store.put(&record::non_discoverable_key(&hash, id), &record.encode())?;
    Ok(())
}

/// Every such credential, as a backup would show it, with its properties.
pub fn non_discoverable_credentials<S: Store>(
    store: &S,
) -> Result<Vec<(BackupCredential, CredentialProperties)>, BackupError> {
    let device = super::backup::device::DeviceState::load(store)?;
    let keyring = device.keyring();
    records(store)?
        .iter()
        .map(|r| Ok((export::export_credential(&keyring, r)?, r.properties)))
        .collect()
}

/// Removes the one with `credential_id` (any RP), or every one (`None`);
/// returns how many went.
pub fn delete_non_discoverable<S: Store>(
    store: &mut S,
    credential_id: Option<&[u8]>,
) -> Result<usize, Error> {
    let batch: Vec<StoreChange> = records(store)?
        .iter()
        .filter(|r| credential_id.is_none_or(|id| r.credential_id == id))
        .map(|r| {
            StoreChange::Delete(record::non_discoverable_key(
                &rp_id_hash(&r.rp_id),
                &r.credential_id,
            ))
        })
        .collect();
    if !batch.is_empty() {
        store.apply(&batch)?;
    }
    Ok(batch.len())
}

/// Replaces the counter and backup flags of the one with `credential_id`;
/// `Ok(false)` if there is none.
pub fn set_non_discoverable_properties<S: Store>(
    store: &mut S,
    credential_id: &[u8],
    properties: CredentialProperties,
) -> Result<bool, Error> {
    let Some(mut found) = records(store)?
        .into_iter()
        .find(|r| r.credential_id == credential_id)
    else {
        return Ok(false);
    };
    found.properties = properties;
    record::put_non_discoverable(store, &rp_id_hash(&found.rp_id), &found)?;
    Ok(true)
}

/// Every decodable record under `cred-nd/`.
fn records<S: Store>(store: &S) -> Result<Vec<CredentialRecord>, crate::env::StoreError> {
    Ok(store
        .scan_prefix(NON_DISCOVERABLE_CREDENTIALS)?
        .iter()
        .filter_map(|stored| CredentialRecord::decode(&stored.value))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbor::{self, Value};
    use crate::testing::TestEnv;
    use crate::{Authenticator, Config, SignCounterKind};

    /// A P-256 credential for "rp" with a chosen 5-byte ID.
    fn credential(env: &mut TestEnv) -> BackupCredential {
        let key = crate::keys::CredentialKey::generate(env, crate::keys::Algorithm::Es256).unwrap();
        BackupCredential {
            credential_id: b"nd-id".to_vec(),
            rp_id: "rp".into(),
            rp_name: None,
            user_id: b"u".to_vec(),
            user_name: Some("ned".into()),
            user_display_name: None,
            created: 0,
            algorithm: crate::keys::Algorithm::Es256,
            private_key_pkcs8: super::super::backup::pkcs8::encode(&key).unwrap(),
            cred_protect: 1,
            cred_blob: None,
            large_blob_key: None,
            hmac: None,
            third_party_payment: false,
        }
    }

    fn ga(allow: Option<&[u8]>) -> Vec<u8> {
        let mut pairs = vec![(1, Value::text("rp")), (2, Value::bytes(&[1; 32]))];
        if let Some(id) = allow {
            pairs.push((
                3,
                Value::Array(vec![Value::text_map(vec![
                    ("id", Value::bytes(id)),
                    ("type", Value::text("public-key")),
                ])]),
            ));
        }
        [vec![0x02], cbor::encode(&Value::int_map(pairs))].concat()
    }

    #[test]
    fn found_by_its_id_alone_counting_and_without_a_user() {
        let mut env = TestEnv::new(5);
        let c = credential(&mut env);
        let properties = CredentialProperties {
            counter: SignCounterKind::Own(9),
            ..CredentialProperties::default()
        };
        add_non_discoverable(&mut env.store, &c, properties).unwrap();
        assert!(add_non_discoverable(&mut env.store, &c, properties).is_err());
        let mut a = Authenticator::new(Config::default());
        a.power_up(&mut env);
        // Not discoverable: a usernameless request finds nothing.
        assert_eq!(a.process_cbor(&mut env, &ga(None)), [0x2E]);
        let out = a.process_cbor(&mut env, &ga(Some(b"nd-id")));
        assert_eq!(out[0], 0x00);
        let response = cbor::decode(&out[1..]).unwrap();
        assert_eq!(response.get(&Value::Unsigned(4)), None, "no user");
        let Some(Value::Bytes(data)) = response.get(&Value::Unsigned(2)) else {
            panic!("no authData");
        };
        assert_eq!(data[33..37], 10u32.to_be_bytes());
        let listed = non_discoverable_credentials(&env.store).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].1.counter, SignCounterKind::Own(10));
        assert_eq!(*listed[0].0.private_key_pkcs8, *c.private_key_pkcs8);
        // Nothing that lists discoverable credentials sees it.
        assert!(crate::list_credentials(&env.store).unwrap().is_empty());
        assert!(set_non_discoverable_properties(&mut env.store, b"nd-id", properties).unwrap());
        assert_eq!(delete_non_discoverable(&mut env.store, None).unwrap(), 1);
        assert_eq!(a.process_cbor(&mut env, &ga(Some(b"nd-id"))), [0x2E]);
    }
}
