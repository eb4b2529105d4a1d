//! The v2 file header and the bounded byte reader shared by every parser of the crate.
//!
//! Implements FORMAT.md "Byte layout". Everything is explicit little-endian. Parsing never indexes,
//! never allocates from an unchecked length, and checks the KDF bounds before anything can run
//! the KDF with the file's numbers (age caps its work factor the same way).

use crate::Error;
use crate::kdf::{KdfParams, SALT_LEN};
use crate::slots::{Lock, Slot, SlotInfo, SlotKind, encode_table, parse_table};

/// First eight bytes of every vault file.
pub const MAGIC: [u8; 8] = *b"SKVAULT\0";
/// The newest format version this crate writes: a key-slot table (FORMAT.md "Key slots").
/// A vault whose only slot is its passphrase is still written as [`FORMAT_VERSION_PASSPHRASE`].
pub const FORMAT_VERSION: u16 = FORMAT_VERSION_SLOTS;
/// Format 3: any number of key slots.
pub(crate) const FORMAT_VERSION_SLOTS: u16 = 3;
/// Format 2: one passphrase slot in a fixed 115-byte header.
pub const FORMAT_VERSION_PASSPHRASE: u16 = 2;
/// The previous, whole-file-rewrite format version.
pub(crate) const FORMAT_VERSION_V1: u16 = 1;
/// KDF identifier for Argon2id v0x13 (the only one defined).
pub const KDF_ARGON2ID: u8 = 1;

/// AES-GCM nonce length (96 bits).
pub(crate) const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
pub(crate) const TAG_LEN: usize = 16;
/// Length of the random per-vault data key (AES-256).
pub(crate) const DATA_KEY_LEN: usize = 32;
/// Data key sealed under the KEK: ciphertext plus tag.
pub(crate) const WRAPPED_KEY_LEN: usize = DATA_KEY_LEN + TAG_LEN;
/// Length of the random vault id.
pub(crate) const VAULT_ID_LEN: usize = 16;
/// Format 2: bytes from the magic through the salt, the associated data of the key wrap.
pub(crate) const KEY_WRAP_AAD_LEN: usize = 8 + 2 + VAULT_ID_LEN + 1 + 4 + 4 + 4 + SALT_LEN;
/// The whole format-2 header.
pub(crate) const HEADER_LEN: usize = KEY_WRAP_AAD_LEN + NONCE_LEN + WRAPPED_KEY_LEN;
/// Format 3: magic, version, vault id and the slot table's length, before the table.
const SLOTS_PREFIX_LEN: usize = 8 + 2 + VAULT_ID_LEN + 4;
/// Largest slot table accepted, checked before it is read (and before one is written).
pub(crate) const MAX_TABLE_LEN: usize = 64 * 1024;
/// Longest header of any version: what is read to learn the slots before unlocking.
pub(crate) const MAX_HEADER_LEN: usize = SLOTS_PREFIX_LEN + MAX_TABLE_LEN;

/// The header of a format-2 or format-3 vault. Nothing in it is secret (the data key is
/// wrapped in every slot).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub vault_id: [u8; VAULT_ID_LEN],
    /// 2 while the only slot is the passphrase, else 3.
    pub version: u16,
    pub slots: Vec<Slot>,
}

impl core::fmt::Debug for Header {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let kinds: Vec<SlotKind> = self.slots.iter().map(|s| s.kind).collect();
        f.debug_struct("Header")
            .field("version", &self.version)
            .field("slots", &kinds)
            .finish_non_exhaustive()
    }
}

impl Header {
    /// A format-2 header: one passphrase slot (its key wrap still to be filled in).
    pub fn passphrase_only(
        vault_id: [u8; VAULT_ID_LEN],
        params: KdfParams,
        salt: [u8; SALT_LEN],
    ) -> Self {
        Self {
            vault_id,
            version: FORMAT_VERSION_PASSPHRASE,
            slots: vec![Slot {
                kind: SlotKind::Passphrase,
                lock: Lock::Kdf { params, salt },
                key_nonce: [0; NONCE_LEN],
                wrapped_key: [0; WRAPPED_KEY_LEN],
            }],
        }
    }

    /// The associated data of slot `index`'s key wrap: header bytes 0..55 in format 2
    /// (FORMAT.md "Byte layout"), the slot's own description in format 3 ("Key slots").
    pub fn slot_aad(&self, index: usize) -> Result<Vec<u8>, Error> {
        let slot = self
            .slots
            .get(index)
            .ok_or(Error::Malformed("no key slot at that index"))?;
        if self.version == FORMAT_VERSION_SLOTS {
            return Ok(slot.wrap_aad(&self.vault_id));
        }
        let Lock::Kdf { params, salt } = &slot.lock else {
            return Err(Error::Malformed("a format-2 header holds one passphrase"));
        };
        let mut out = Vec::with_capacity(HEADER_LEN);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION_PASSPHRASE.to_le_bytes());
        out.extend_from_slice(&self.vault_id);
        out.push(KDF_ARGON2ID);
        out.extend_from_slice(&params.memory_kib.to_le_bytes());
        out.extend_from_slice(&params.iterations.to_le_bytes());
        out.extend_from_slice(&params.parallelism.to_le_bytes());
        out.extend_from_slice(salt);
        debug_assert_eq!(out.len(), KEY_WRAP_AAD_LEN);
        Ok(out)
    }

    /// Wraps `data_key` into slot `index` under `kek` (a fresh nonce).
    pub fn wrap_into(
        &mut self,
        index: usize,
        kek: &crate::kdf::Kek,
        data_key: &crate::seal::DataKey,
    ) -> Result<(), Error> {
        let aad = self.slot_aad(index)?;
        let (nonce, wrapped) = crate::seal::wrap_key(kek, data_key, &aad)?;
        let slot = self
            .slots
            .get_mut(index)
            .ok_or(Error::Malformed("no key slot at that index"))?;
        (slot.key_nonce, slot.wrapped_key) = (nonce, wrapped);
        Ok(())
    }

    /// Tries to unwrap the data key from slot `index` with `kek`.
    pub fn unwrap_from(
        &self,
        index: usize,
        kek: &crate::kdf::Kek,
    ) -> Result<crate::seal::DataKey, Error> {
        let aad = self.slot_aad(index)?;
        let slot = self
            .slots
            .get(index)
            .ok_or(Error::Malformed("no key slot at that index"))?;
        crate::seal::unwrap_key(kek, &slot.key_nonce, &slot.wrapped_key, &aad)
    }

    /// The Argon2id cost of the passphrase slot, else of the first slot a person opens.
    pub fn kdf_params(&self) -> KdfParams {
        passphrase_cost(self.slots.iter().map(|s| match &s.lock {
            Lock::Kdf { params, .. } => (s.kind, Some(*params)),
            _ => (s.kind, None),
        }))
    }

    /// Length of the format-3 slot table this header would write.
    pub fn table_len(&self) -> usize {
        encode_table(&self.slots).len()
    }

    /// Length of the header as written: where the first record frame starts.
    pub fn encoded_len(&self) -> usize {
        match self.version {
            FORMAT_VERSION_PASSPHRASE => HEADER_LEN,
            _ => SLOTS_PREFIX_LEN + self.table_len(),
        }
    }

    /// Serialises the whole header; the first record frame follows it.
    pub fn encode(&self) -> Vec<u8> {
        if self.version == FORMAT_VERSION_PASSPHRASE
            && let Ok(mut out) = self.slot_aad(0)
            && let Some(slot) = self.slots.first()
        {
            out.extend_from_slice(&slot.key_nonce);
            out.extend_from_slice(&slot.wrapped_key);
            debug_assert_eq!(out.len(), HEADER_LEN);
            return out;
        }
        let table = encode_table(&self.slots);
        let mut out = Vec::with_capacity(SLOTS_PREFIX_LEN + table.len());
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&FORMAT_VERSION_SLOTS.to_le_bytes());
        out.extend_from_slice(&self.vault_id);
        out.extend_from_slice(&(table.len() as u32).to_le_bytes());
        out.extend_from_slice(&table);
        out
    }
}

/// The passphrase slot's Argon2id cost among `(kind, cost)` pairs, else the first cost a
/// person's slot has.
fn passphrase_cost(slots: impl Iterator<Item = (SlotKind, Option<KdfParams>)>) -> KdfParams {
    let mut first = None;
    for (kind, params) in slots {
        if let Some(params) = params {
            if kind == SlotKind::Passphrase {
                return params;
            }
            first.get_or_insert(params);
        }
    }
    // parse_table guarantees a person's slot; a header built in memory always has one.
    first.unwrap_or(KdfParams::DEFAULT)
}

/// Checks the magic and returns the format version. A file shorter than the magic that is a
/// prefix of it is `Truncated`; anything else that does not start with it is `NotAVault`.
pub(crate) fn version(bytes: &[u8]) -> Result<u16, Error> {
    let magic_seen = bytes.get(..MAGIC.len()).unwrap_or(bytes);
    if MAGIC.get(..magic_seen.len()) != Some(magic_seen) {
        return Err(Error::NotAVault);
    }
    let mut r = Reader::new(bytes);
    r.take(MAGIC.len())?;
    Ok(u16::from_le_bytes(r.array()?))
}

/// Parses a format-2 or format-3 header; returns it and its length in the file.
pub(crate) fn parse(bytes: &[u8]) -> Result<(Header, usize), Error> {
    let v = version(bytes)?;
    let mut r = Reader::new(bytes);
    r.take(MAGIC.len() + 2)?;
    let vault_id = r.array()?;
    match v {
        FORMAT_VERSION_PASSPHRASE => {
            let (params, salt) = read_kdf(&mut r)?;
            let mut header = Header::passphrase_only(vault_id, params, salt);
            if let Some(slot) = header.slots.first_mut() {
                slot.key_nonce = r.array()?;
                slot.wrapped_key = r.array()?;
            }
            Ok((header, HEADER_LEN))
        }
        FORMAT_VERSION_SLOTS => {
            let table_len = u32::from_le_bytes(r.array()?) as usize;
            if table_len > MAX_TABLE_LEN {
                return Err(Error::Malformed("the key-slot table is too long"));
            }
            let slots = parse_table(r.take(table_len)?)?;
            let header = Header {
                vault_id,
                version: FORMAT_VERSION_SLOTS,
                slots,
            };
            Ok((header, SLOTS_PREFIX_LEN + table_len))
        }
        v => Err(Error::UnsupportedVersion(v)),
    }
}

/// The slots of a v1, v2 or v3 header (the file's first [`MAX_HEADER_LEN`] bytes, or all of a
/// shorter one): what [`crate::Vault::lock`] reads and bounds-checks before any passphrase
/// exists. A v1 file has one passphrase slot.
pub(crate) fn slots_of(bytes: &[u8]) -> Result<Vec<SlotInfo>, Error> {
    match version(bytes)? {
        // FORMAT.md "Version 1 and migration": the KDF fields follow the version directly.
        FORMAT_VERSION_V1 => {
            let mut r = Reader::new(bytes);
            r.take(MAGIC.len() + 2)?;
            let (params, _) = read_kdf(&mut r)?;
            Ok(vec![SlotInfo {
                index: 0,
                kind: SlotKind::Passphrase,
                kdf_params: Some(params),
                sealed: None,
            }])
        }
        _ => {
            let (header, _) = parse(bytes)?;
            Ok(header
                .slots
                .iter()
                .enumerate()
                .map(|(i, s)| s.info(i))
                .collect())
        }
    }
}

/// The passphrase slot's Argon2id cost among `slots`, else the first person's slot's.
pub(crate) fn kdf_params_of_infos(slots: &[SlotInfo]) -> KdfParams {
    passphrase_cost(slots.iter().map(|s| (s.kind, s.kdf_params)))
}

/// KDF id, m, t, p and salt; the bounds are checked before anyone can run the KDF.
pub(crate) fn read_kdf(r: &mut Reader<'_>) -> Result<(KdfParams, [u8; SALT_LEN]), Error> {
    let kdf_id = u8::from_le_bytes(r.array()?);
    if kdf_id != KDF_ARGON2ID {
        return Err(Error::Malformed("unknown key-derivation function id"));
    }
    let params = KdfParams {
        memory_kib: u32::from_le_bytes(r.array()?),
        iterations: u32::from_le_bytes(r.array()?),
        parallelism: u32::from_le_bytes(r.array()?),
    };
    params.validate()?;
    Ok((params, r.array()?))
}

/// A cursor over untrusted bytes; every read is checked against what remains.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// The next `n` bytes, or `Truncated` if fewer remain.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let (head, tail) = self.rest.split_at_checked(n).ok_or(Error::Truncated)?;
        self.rest = tail;
        Ok(head)
    }

    /// The next `N` bytes as an array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let head = self.take(N)?;
        head.try_into().map_err(|_| Error::Truncated)
    }

    /// What has not been read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARAMS: KdfParams = KdfParams {
        memory_kib: 8192,
        iterations: 1,
        parallelism: 1,
    };

    fn header() -> Header {
        let mut h = Header::passphrase_only([9; VAULT_ID_LEN], PARAMS, [1; SALT_LEN]);
        h.slots[0].key_nonce = [2; NONCE_LEN];
        h.slots[0].wrapped_key = [3; WRAPPED_KEY_LEN];
        h
    }

    fn with_slots() -> Header {
        let mut h = header();
        h.version = FORMAT_VERSION_SLOTS;
        h.slots.push(Slot {
            kind: SlotKind::Tpm2,
            lock: Lock::Sealed(vec![5; 7]),
            key_nonce: [6; NONCE_LEN],
            wrapped_key: [7; WRAPPED_KEY_LEN],
        });
        h
    }

    #[test]
    fn layout_offsets_match_format_md() {
        assert_eq!(KEY_WRAP_AAD_LEN, 55);
        assert_eq!(HEADER_LEN, 115);
        let h = header().encode();
        assert_eq!(&h[..8], b"SKVAULT\0");
        assert_eq!(&h[8..10], &[2, 0]);
        assert_eq!(&h[10..26], &[9; 16]);
        assert_eq!(h[26], 1);
        assert_eq!(&h[27..31], &8192u32.to_le_bytes());
        assert_eq!(&h[31..35], &1u32.to_le_bytes());
        assert_eq!(&h[35..39], &1u32.to_le_bytes());
        assert_eq!(&h[39..55], &[1; 16]);
        assert_eq!(&h[55..67], &[2; 12]);
        assert_eq!(&h[67..115], &[3; 48]);
        assert_eq!(header().slot_aad(0).unwrap(), h[..55].to_vec());
    }

    #[test]
    fn format_3_layout_matches_format_md() {
        let h = with_slots().encode();
        assert_eq!(&h[8..10], &[3, 0]);
        assert_eq!(&h[10..26], &[9; 16]);
        // Table: count, then (kind, body length, body) per slot.
        let table_len = 1 + (3 + 29 + 60) + (3 + 2 + 7 + 60);
        assert_eq!(&h[26..30], &(table_len as u32).to_le_bytes());
        assert_eq!(h.len(), 30 + table_len);
        assert_eq!(h[30], 2);
        assert_eq!((h[31], &h[32..34]), (1, &89u16.to_le_bytes()[..]));
        assert_eq!(h[34], 1, "Argon2id");
        assert_eq!(&h[47..63], &[1; 16], "salt");
        assert_eq!(&h[63..75], &[2; 12], "key nonce");
        assert_eq!((h[123], &h[124..126]), (3, &69u16.to_le_bytes()[..]));
        assert_eq!(&h[126..128], &7u16.to_le_bytes());
        assert_eq!(&h[128..135], &[5; 7]);
        // A slot's AAD: magic, version 3, vault id, kind, description.
        let aad = with_slots().slot_aad(1).unwrap();
        assert_eq!(&aad[..10], b"SKVAULT\0\x03\x00");
        assert_eq!(&aad[10..26], &[9; 16]);
        assert_eq!(aad[26], 3);
        assert_eq!(&aad[27..], &h[126..135]);
        assert_eq!(parse(&h).unwrap(), (with_slots(), h.len()));
    }

    #[test]
    fn round_trip_and_structural_errors() {
        let h = header().encode();
        assert_eq!(parse(&h).unwrap(), (header(), HEADER_LEN));
        for len in 0..h.len() {
            assert!(matches!(parse(&h[..len]), Err(Error::Truncated)), "{len}");
        }
        let h3 = with_slots().encode();
        for len in 0..h3.len() {
            assert!(matches!(parse(&h3[..len]), Err(Error::Truncated)), "{len}");
        }
        let mut bad = h.clone();
        bad[0] ^= 0x20;
        assert!(matches!(parse(&bad), Err(Error::NotAVault)));
        assert!(matches!(parse(b"PK\x03"), Err(Error::NotAVault)));
        let mut bad = h.clone();
        bad[8] = 4;
        assert!(matches!(parse(&bad), Err(Error::UnsupportedVersion(4))));
        let mut bad = h.clone();
        bad[26] = 2;
        assert!(matches!(parse(&bad), Err(Error::Malformed(_))));
        let mut bad = h;
        bad[27..31].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(parse(&bad), Err(Error::KdfParamsOutOfBounds)));
    }

    #[test]
    fn hostile_slot_tables_are_refused_before_anything_runs() {
        let good = with_slots().encode();
        // A table length beyond the limit.
        let mut bad = good.clone();
        bad[26..30].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(parse(&bad), Err(Error::Malformed(_))));
        // No slot, or too many.
        for count in [0u8, 9] {
            let mut bad = good.clone();
            bad[30] = count;
            assert!(parse(&bad).is_err(), "{count}");
        }
        // The same kind twice.
        let mut twice = with_slots();
        twice.slots.push(twice.slots[1].clone());
        assert!(matches!(parse(&twice.encode()), Err(Error::Malformed(_))));
        // Only a sealed slot: nobody could open it by hand.
        let mut only_tpm = with_slots();
        only_tpm.slots.remove(0);
        assert!(matches!(
            parse(&only_tpm.encode()),
            Err(Error::Malformed(_))
        ));
        // A KDF slot with out-of-bounds parameters.
        let mut bad = good.clone();
        bad[35..39].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(parse(&bad), Err(Error::KdfParamsOutOfBounds)));
        // An empty sealed blob.
        let mut empty = with_slots();
        empty.slots[1].lock = Lock::Sealed(Vec::new());
        assert!(matches!(parse(&empty.encode()), Err(Error::Malformed(_))));
        // Trailing bytes inside the table.
        let mut bad = good.clone();
        let len = u32::from_le_bytes(bad[26..30].try_into().unwrap()) + 1;
        bad[26..30].copy_from_slice(&len.to_le_bytes());
        bad.push(0);
        assert!(matches!(parse(&bad), Err(Error::Malformed(_))));
    }

    #[test]
    fn unknown_slot_kinds_are_kept_byte_for_byte() {
        let mut h = with_slots();
        h.slots.push(Slot {
            kind: SlotKind::Unknown(77),
            lock: Lock::Opaque(vec![1, 2, 3]),
            key_nonce: [0; NONCE_LEN],
            wrapped_key: [0; WRAPPED_KEY_LEN],
        });
        let bytes = h.encode();
        let (parsed, len) = parse(&bytes).unwrap();
        assert_eq!((parsed.encode(), len), (bytes.clone(), bytes.len()));
        assert_eq!(slots_of(&bytes).unwrap()[2].kind, SlotKind::Unknown(77));
    }

    #[test]
    fn slots_come_from_v1_v2_and_v3_headers_with_bounds_checked() {
        let h = header().encode();
        assert_eq!(kdf_params_of_infos(&slots_of(&h).unwrap()), PARAMS);
        // v1: the same fields without the 16-byte vault id.
        let mut v1 = h[..10].to_vec();
        v1[8] = 1;
        v1.extend_from_slice(&h[26..]);
        assert_eq!(kdf_params_of_infos(&slots_of(&v1).unwrap()), PARAMS);
        let infos = slots_of(&with_slots().encode()).unwrap();
        assert_eq!(infos[1].sealed.as_deref(), Some(&[5u8; 7][..]));
        assert_eq!(infos[1].kind, SlotKind::Tpm2);
        assert!(matches!(slots_of(&h[..30]), Err(Error::Truncated)));
        assert!(matches!(slots_of(b"hello"), Err(Error::NotAVault)));
        let mut bad = h.clone();
        bad[8] = 9;
        assert!(matches!(slots_of(&bad), Err(Error::UnsupportedVersion(9))));
        let mut bad = h;
        bad[31..35].copy_from_slice(&0u32.to_le_bytes());
        assert!(matches!(slots_of(&bad), Err(Error::KdfParamsOutOfBounds)));
    }
}
