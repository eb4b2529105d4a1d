//! Key slots (FORMAT.md "Key slots"): each slot opens the same vault, a vault with only its
//! passphrase stays format 2, and a slot cannot be used to open anything it was not made for.

#![allow(clippy::unwrap_used, reason = "test code: a panic is a test failure")]
#![allow(
    clippy::indexing_slicing,
    reason = "test code: a panic is a test failure"
)]

mod common;

use std::fs;

use common::{FAST, PASS, contents, vault_path};
use softkey_vault::{Error, NewSlot, SlotKind, Vault};

const RECOVERY: &[u8] = b"VK3QM-8ZT1D-6P0XW-H4N2C-R7JBA";
const TPM_KEK: [u8; 32] = [0x5a; 32];
const TPM_BLOB: &[u8] = b"a sealed TPM object, opaque to the vault";

fn tpm_slot() -> NewSlot<'static> {
    NewSlot::Sealed {
        kind: SlotKind::Tpm2,
        blob: TPM_BLOB,
        kek: &TPM_KEK,
    }
}

fn recovery_slot() -> NewSlot<'static> {
    NewSlot::RecoveryKey {
        key: RECOVERY,
        params: FAST,
    }
}

fn kinds(v: &Vault) -> Vec<SlotKind> {
    v.slots().iter().map(|s| s.kind).collect()
}

#[test]
fn a_passphrase_only_vault_stays_format_2_until_a_second_slot() {
    let (_dir, path) = vault_path();
    let mut v = Vault::create(&path, PASS, FAST).unwrap();
    v.put(b"k", b"v").unwrap();
    v.compact().unwrap();
    assert_eq!(v.format_version(), 2);
    assert_eq!(&fs::read(&path).unwrap()[8..10], &[2, 0]);
    v.add_slot(recovery_slot()).unwrap();
    assert_eq!(v.format_version(), 3);
    assert_eq!(&fs::read(&path).unwrap()[8..10], &[3, 0]);
    // The handle goes on writing to the rewritten file.
    v.put(b"k2", b"v2").unwrap();
    drop(v);
    let v = Vault::open(&path, PASS).unwrap();
    assert_eq!(v.stats().opened_format_version, 3);
    assert_eq!(kinds(&v), [SlotKind::Passphrase, SlotKind::RecoveryKey]);
    assert_eq!(contents(&v).len(), 2);
}

#[test]
fn every_slot_opens_the_same_records() {
    let (_dir, path) = vault_path();
    let mut v = Vault::create(&path, PASS, FAST).unwrap();
    v.put(b"cred", b"secret").unwrap();
    v.add_slot(tpm_slot()).unwrap();
    v.add_slot(recovery_slot()).unwrap();
    let want = contents(&v);
    drop(v);

    let mut locked = Vault::lock(&path).unwrap();
    let infos = locked.slots().to_vec();
    assert_eq!(infos.len(), 3);
    let tpm = infos.iter().find(|s| s.kind == SlotKind::Tpm2).unwrap();
    assert_eq!(tpm.sealed.as_deref(), Some(TPM_BLOB));
    assert_eq!(tpm.kdf_params, None);
    let v = locked.unlock_sealed(tpm.index, &TPM_KEK).unwrap();
    assert_eq!(contents(&v), want);
    drop(v);
    let v = Vault::lock(&path)
        .unwrap()
        .unlock_with_recovery_key(RECOVERY)
        .unwrap();
    assert_eq!(contents(&v), want);
    drop(v);
    assert_eq!(contents(&Vault::open(&path, PASS).unwrap()), want);
}

#[test]
fn wrong_secrets_fail_and_keep_the_lock_for_another_try() {
    let (_dir, path) = vault_path();
    let mut v = Vault::create(&path, PASS, FAST).unwrap();
    v.add_slot(tpm_slot()).unwrap();
    drop(v);
    let mut locked = Vault::lock(&path).unwrap();
    let tpm = locked.slots()[1].index;
    assert!(matches!(
        locked.unlock_sealed(tpm, &[0; 32]),
        Err(Error::WrongPassphraseOrCorrupt)
    ));
    // The passphrase is not a TPM KEK and the TPM slot takes no passphrase.
    assert!(matches!(
        locked.unlock(b"wrong"),
        Err(Error::WrongPassphraseOrCorrupt)
    ));
    assert!(matches!(
        locked.unlock_with_recovery_key(RECOVERY),
        Err(Error::NoSuchSlot(SlotKind::RecoveryKey))
    ));
    assert!(matches!(
        locked.unlock_sealed(0, &TPM_KEK),
        Err(Error::Malformed(_))
    ));
    assert!(locked.unlock_sealed(tpm, &TPM_KEK).is_ok());
}

#[test]
fn adding_a_kind_again_replaces_its_slot() {
    let (_dir, path) = vault_path();
    let mut v = Vault::create(&path, PASS, FAST).unwrap();
    v.add_slot(tpm_slot()).unwrap();
    let other = [7u8; 32];
    v.add_slot(NewSlot::Sealed {
        kind: SlotKind::Tpm2,
        blob: b"re-enrolled",
        kek: &other,
    })
    .unwrap();
    assert_eq!(kinds(&v), [SlotKind::Passphrase, SlotKind::Tpm2]);
    drop(v);
    let mut locked = Vault::lock(&path).unwrap();
    assert!(locked.unlock_sealed(1, &TPM_KEK).is_err());
    assert!(locked.unlock_sealed(1, &other).is_ok());
}

#[test]
fn the_last_slot_a_person_can_open_cannot_be_removed() {
    let (_dir, path) = vault_path();
    let mut v = Vault::create(&path, PASS, FAST).unwrap();
    assert!(matches!(
        v.remove_slot(SlotKind::Passphrase),
        Err(Error::LastSlotForAPerson)
    ));
    v.add_slot(tpm_slot()).unwrap();
    assert!(matches!(
        v.remove_slot(SlotKind::Passphrase),
        Err(Error::LastSlotForAPerson)
    ));
    assert!(matches!(
        v.remove_slot(SlotKind::SecretService),
        Err(Error::NoSuchSlot(SlotKind::SecretService))
    ));
    v.add_slot(recovery_slot()).unwrap();
    // With a recovery key the passphrase may go; then the recovery key is the last.
    v.remove_slot(SlotKind::Passphrase).unwrap();
    assert!(matches!(
        v.remove_slot(SlotKind::RecoveryKey),
        Err(Error::LastSlotForAPerson)
    ));
    v.remove_slot(SlotKind::Tpm2).unwrap();
    assert_eq!(kinds(&v), [SlotKind::RecoveryKey]);
    drop(v);
    let mut locked = Vault::lock(&path).unwrap();
    assert!(matches!(
        locked.unlock(PASS),
        Err(Error::NoSuchSlot(SlotKind::Passphrase))
    ));
    assert!(locked.unlock_with_recovery_key(RECOVERY).is_ok());
}

#[test]
fn changing_the_passphrase_with_other_slots_keeps_them_working() {
    let (_dir, path) = vault_path();
    let mut v = Vault::create(&path, PASS, FAST).unwrap();
    v.put(b"k", b"v").unwrap();
    v.add_slot(recovery_slot()).unwrap();
    v.change_passphrase(b"a new passphrase", FAST).unwrap();
    drop(v);
    assert!(matches!(
        Vault::open(&path, PASS),
        Err(Error::WrongPassphraseOrCorrupt)
    ));
    assert_eq!(
        contents(&Vault::open(&path, b"a new passphrase").unwrap()),
        [(b"k".to_vec(), b"v".to_vec())]
    );
    let v = Vault::lock(&path)
        .unwrap()
        .unlock_with_recovery_key(RECOVERY)
        .unwrap();
    assert_eq!(kinds(&v), [SlotKind::RecoveryKey, SlotKind::Passphrase]);
}

#[test]
fn a_slot_moved_to_another_vault_opens_nothing() {
    // Two vaults with the same passphrase; B's header gets A's TPM slot. The key wrap binds
    // the vault id, so A's KEK does not open B even through a byte-identical slot.
    let (_dir_a, path_a) = vault_path();
    let (_dir_b, path_b) = vault_path();
    let mut a = Vault::create(&path_a, PASS, FAST).unwrap();
    a.add_slot(tpm_slot()).unwrap();
    let mut b = Vault::create(&path_b, PASS, FAST).unwrap();
    b.add_slot(NewSlot::Sealed {
        kind: SlotKind::Tpm2,
        blob: TPM_BLOB,
        kek: &[9; 32],
    })
    .unwrap();
    drop((a, b));
    let a_bytes = fs::read(&path_a).unwrap();
    let b_bytes = fs::read(&path_b).unwrap();
    // Same header length (same slot shapes): swap everything after the vault id's table
    // length, i.e. the whole table, keeping B's id and frames.
    let table_end = 30 + u32::from_le_bytes(a_bytes[26..30].try_into().unwrap()) as usize;
    let mut spliced = b_bytes[..26].to_vec();
    spliced.extend_from_slice(&a_bytes[26..table_end]);
    spliced.extend_from_slice(&b_bytes[table_end..]);
    fs::write(&path_b, &spliced).unwrap();
    let mut locked = Vault::lock(&path_b).unwrap();
    assert!(matches!(
        locked.unlock_sealed(1, &TPM_KEK),
        Err(Error::WrongPassphraseOrCorrupt)
    ));
    assert!(matches!(
        locked.unlock(PASS),
        Err(Error::WrongPassphraseOrCorrupt)
    ));
}

#[test]
fn every_flipped_slot_table_byte_fails_cleanly_or_leaves_other_slots_working() {
    let (_dir, path) = vault_path();
    let mut v = Vault::create(&path, PASS, FAST).unwrap();
    v.put(b"k", b"v").unwrap();
    v.add_slot(tpm_slot()).unwrap();
    let want = contents(&v);
    drop(v);
    let good = fs::read(&path).unwrap();
    let header_len = 30 + u32::from_le_bytes(good[26..30].try_into().unwrap()) as usize;
    // Passphrase slot: table count at 30, kind 31, length 32..34, body 34..123; the TPM slot
    // after it. A flipped byte of a slot fails that slot; the other slot still opens the
    // vault with the same records, because each slot authenticates only itself.
    for i in 26..header_len {
        let mut bad = good.clone();
        bad[i] ^= 0x80;
        fs::write(&path, &bad).unwrap();
        let Ok(mut locked) = Vault::lock(&path) else {
            continue; // structure or KDF bounds refused before any key is tried
        };
        let tpm_index = locked
            .slots()
            .iter()
            .find(|s| s.kind == SlotKind::Tpm2)
            .map(|s| s.index);
        let by_pass = locked.unlock(PASS);
        let pass_ok = by_pass.as_ref().is_ok_and(|v| contents(v) == want);
        drop((by_pass, locked));
        let by_tpm = match tpm_index {
            Some(index) => Vault::lock(&path).unwrap().unlock_sealed(index, &TPM_KEK),
            None => Err(Error::NoSuchSlot(SlotKind::Tpm2)),
        };
        let tpm_ok = by_tpm.as_ref().is_ok_and(|v| contents(v) == want);
        let in_pass_slot = (31..123).contains(&i);
        let in_tpm_slot = i >= 123;
        assert!(
            !((in_pass_slot && pass_ok) || (in_tpm_slot && tpm_ok)),
            "byte {i}: a damaged slot still opened the vault"
        );
        if in_pass_slot && i >= 34 {
            assert!(tpm_ok, "byte {i}: the TPM slot should be unaffected");
        }
        if in_tpm_slot && i >= 126 {
            assert!(
                pass_ok,
                "byte {i}: the passphrase slot should be unaffected"
            );
        }
    }
}

#[test]
fn a_slot_that_would_make_the_header_unreadable_is_refused() {
    // A newer softkey's slot of unknown kind, 65,000 bytes, spliced into the table: kept and
    // rewritten as it is. A 4 KiB TPM blob on top would pass the 64 KiB table limit, which
    // every later open would refuse: add_slot refuses it instead, and the vault still opens.
    let (_dir, path) = vault_path();
    let mut v = Vault::create(&path, PASS, FAST).unwrap();
    v.put(b"k", b"v").unwrap();
    v.add_slot(recovery_slot()).unwrap();
    drop(v);
    let bytes = fs::read(&path).unwrap();
    let table_len = u32::from_le_bytes(bytes[26..30].try_into().unwrap()) as usize;
    let mut table = bytes[30..30 + table_len].to_vec();
    table[0] += 1;
    table.push(200);
    table.extend_from_slice(&65_000u16.to_le_bytes());
    table.extend(std::iter::repeat_n(7u8, 65_000));
    let mut spliced = bytes[..26].to_vec();
    spliced.extend_from_slice(&(table.len() as u32).to_le_bytes());
    spliced.extend_from_slice(&table);
    spliced.extend_from_slice(&bytes[30 + table_len..]);
    fs::write(&path, &spliced).unwrap();

    let mut v = Vault::open(&path, PASS).unwrap();
    assert_eq!(v.slots()[2].kind, SlotKind::Unknown(200));
    let big = vec![1u8; softkey_vault::MAX_SEALED_LEN];
    let refused = v.add_slot(NewSlot::Sealed {
        kind: SlotKind::Tpm2,
        blob: &big,
        kek: &TPM_KEK,
    });
    assert!(matches!(refused, Err(Error::TooManySlots)), "{refused:?}");
    // A small one still fits, and the unknown slot survives the rewrite byte for byte.
    v.add_slot(tpm_slot()).unwrap();
    drop(v);
    let v = Vault::open(&path, PASS).unwrap();
    assert_eq!(contents(&v), [(b"k".to_vec(), b"v".to_vec())]);
    assert_eq!(
        kinds(&v),
        [
            SlotKind::Passphrase,
            SlotKind::RecoveryKey,
            SlotKind::Unknown(200),
            SlotKind::Tpm2
        ]
    );
}
