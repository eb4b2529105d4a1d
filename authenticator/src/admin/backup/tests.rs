//! What import stores and export refuses, checked on the records
//! themselves (the scenario tests in `tests/backup*.rs` check behaviour).

use zeroize::Zeroizing;

use super::*;
use crate::auth_data::rp_id_hash;
use crate::credential::{self, CredentialFlags};
use crate::env::{Env, Store};
use crate::keys::{Algorithm, CredentialKey};
use crate::record::{self, CredentialRecord};
use crate::secrets::DeviceSecrets;
use crate::store_keys::SIGN_COUNTER;
use crate::testing::{TestEnv, credential_record};

const RP: &str = "u.example";

/// A device with one discoverable credential made the way makeCredential
/// makes it; returns its ID.
fn device_with_credential(seed: u64, cred_protect: u8) -> (TestEnv, Vec<u8>) {
    let mut env = TestEnv::new(seed);
    let secrets = DeviceSecrets::load_or_create(&mut env).unwrap();
    let key = CredentialKey::generate(&mut env, Algorithm::Es256).unwrap();
    let hash = rp_id_hash(RP);
    let flags = CredentialFlags {
        discoverable: true,
        cred_protect,
        third_party_payment: false,
    };
    let id = credential::wrap(&mut env, secrets.wrap_key(), &hash, &key, flags).unwrap();
    let record = CredentialRecord {
        created: 10,
        cred_protect,
        ..credential_record(RP, b"u", &id, 1)
    };
    record::save(env.store(), &hash, &record).unwrap();
    (env, id)
}

fn stored(env: &mut TestEnv, id: &[u8]) -> CredentialRecord {
    record::find(env.store(), &rp_id_hash(RP), id)
        .unwrap()
        .unwrap()
}

#[test]
fn own_ids_need_no_stored_key_foreign_ones_do() {
    let (a, id) = device_with_credential(1, 2);
    let backup = export_backup(&a.store).unwrap();
    let mut b = TestEnv::new(2);
    import_backup(b.store(), &backup).unwrap();
    // A's wrap key is now B's too: the ID carries the key, CredRandoms
    // are the derived ones.
    let record = stored(&mut b, &id);
    assert!(record.private_key.is_none());
    assert!(record.cred_randoms.is_none());

    // The same credential under an unknown ID, with other CredRandoms.
    let mut foreign = backup.clone();
    foreign.wrap_keys.clear();
    foreign.credentials[0].credential_id = vec![7; 20];
    foreign.credentials[0].hmac = Some(HmacCredentials {
        with_uv: Zeroizing::new([1; 32]),
        without_uv: Zeroizing::new([2; 32]),
    });
    let mut c = TestEnv::new(3);
    import_backup(c.store(), &foreign).unwrap();
    let record = stored(&mut c, &[7; 20]);
    assert!(record.private_key.is_some());
    assert_eq!(
        record.cred_randoms.map(|r| (*r.with_uv, *r.without_uv)),
        Some(([1; 32], [2; 32]))
    );

    // Our ID, but the backup names another credProtect level: the record
    // carries the key so that the backup's level is the one that applies.
    let mut relabelled = backup.clone();
    relabelled.credentials[0].cred_protect = 3;
    let mut d = TestEnv::new(4);
    import_backup(d.store(), &relabelled).unwrap();
    let record = stored(&mut d, &id);
    assert!(record.private_key.is_some());
    assert_eq!(record.cred_protect, 3);
    let again = export_backup(&d.store).unwrap();
    assert_eq!(again.credentials[0].cred_protect, 3);
}

#[test]
fn added_credentials_get_orders_above_both_ceilings_oldest_first() {
    let (a, _) = device_with_credential(1, 1);
    let mut backup = export_backup(&a.store).unwrap();
    let mut second = backup.credentials[0].clone();
    second.credential_id = vec![9; 16];
    second.created = 5; // older than the first
    backup.credentials.push(second);
    backup.sign_count = 300;
    let mut b = TestEnv::new(2);
    b.store().put(SIGN_COUNTER, &200u32.to_be_bytes()).unwrap();
    let report = import_backup(b.store(), &backup).unwrap();
    assert_eq!(report.sign_count, 302);
    let first_id = backup.credentials[0].credential_id.clone();
    assert_eq!(stored(&mut b, &[9; 16]).order, 301);
    assert_eq!(stored(&mut b, &first_id).order, 302);
    assert_eq!(
        b.store().get(SIGN_COUNTER).unwrap(),
        Some(Zeroizing::new(302u32.to_be_bytes().to_vec()))
    );
}

#[test]
fn export_refuses_what_it_cannot_carry() {
    // A record that does not decode.
    let (mut a, _) = device_with_credential(1, 1);
    let mut key = b"cred/".to_vec();
    key.extend_from_slice(&rp_id_hash(RP));
    key.extend_from_slice(b"junk");
    a.store().put(&key, b"\xFF").unwrap();
    assert_eq!(
        export_backup(&a.store).unwrap_err(),
        BackupError::Corrupt("a credential record does not decode")
    );
    // A record whose ID no longer opens (its device key is gone).
    let (mut b, _) = device_with_credential(2, 1);
    b.store().delete(crate::store_keys::DEVICE_SECRETS).unwrap();
    assert!(matches!(
        export_backup(&b.store),
        Err(BackupError::Corrupt(_))
    ));
}

#[test]
fn corrupt_device_state_fails_the_import_before_any_write() {
    let (a, _) = device_with_credential(1, 1);
    let backup = export_backup(&a.store).unwrap();
    let mut b = TestEnv::new(2);
    b.store().put(SIGN_COUNTER, &[1, 2, 3]).unwrap();
    let writes = b.store().writes();
    assert_eq!(
        import_backup(b.store(), &backup).unwrap_err(),
        BackupError::Corrupt("signature counter")
    );
    assert_eq!(b.store().writes(), writes);
    assert_eq!(b.store().count_prefix(b"cred/").unwrap(), 0);
}
