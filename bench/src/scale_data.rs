//! The synthetic passkeys of the scale benchmark: a [`BackupContents`] with one
//! relying party holding many accounts and the rest spread thinly over other RPs, the
//! shape a large password-manager import has. It is written with the product's own
//! import path (`import_backup`, one atomic vault batch), so the records are exactly
//! what `softkey import` stores.
//!
//! Private keys are random P-256 scalars wrapped as PKCS#8 DER by hand (RFC 5958
//! `OneAsymmetricKey` around an RFC 5915 `ECPrivateKey` with no optional fields), so
//! the bench needs no elliptic-curve crate and makes 100,000 keys in milliseconds; the
//! import decodes each one with p256 and refuses any that is not a valid key.

use anyhow::{Result, anyhow, ensure};
use softkey_authenticator::{BackupAlgorithm, BackupContents, BackupCredential, CREDENTIAL_ID_LEN};
use zeroize::Zeroizing;

/// The RP with many accounts, for username-less getAssertion.
pub const RP_MANY: &str = "many.example";
/// First creation time of the synthetic credentials (2025-01-01T00:00:00Z).
const CREATED_BASE: u64 = 1_735_689_600;
/// Accounts per other RP: 1 ..= this.
const MAX_ACCOUNTS_PER_RP: usize = 3;
/// A random user handle's length (WebAuthn §5.4.3 allows up to 64 bytes).
const USER_ID_LEN: usize = 16;

/// PKCS#8 v1 of a P-256 key without the optional public key: SEQUENCE { version 0,
/// AlgorithmIdentifier { id-ecPublicKey (RFC 5480 §2.1.1), prime256v1 }, OCTET STRING
/// { ECPrivateKey { version 1, OCTET STRING (32-byte scalar) } } }; the scalar follows.
const P256_PKCS8_PREFIX: [u8; 35] = [
    0x30, 0x41, // SEQUENCE, 65 bytes
    0x02, 0x01, 0x00, // INTEGER 0
    0x30, 0x13, // SEQUENCE, 19 bytes
    0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, // OID 1.2.840.10045.2.1
    0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, // OID 1.2.840.10045.3.1.7
    0x04, 0x27, // OCTET STRING, 39 bytes
    0x30, 0x25, // SEQUENCE, 37 bytes
    0x02, 0x01, 0x01, // INTEGER 1
    0x04, 0x20, // OCTET STRING, 32 bytes: the scalar
];

/// OS randomness, fetched in blocks so 100,000 credentials cost few system calls.
#[derive(Debug)]
pub struct Random {
    buffer: Vec<u8>,
    used: usize,
}

impl Random {
    const BLOCK: usize = 64 * 1024;

    pub fn new() -> Self {
        Random {
            buffer: vec![0; Self::BLOCK],
            used: Self::BLOCK,
        }
    }

    pub fn fill(&mut self, out: &mut [u8]) -> Result<()> {
        for chunk in out.chunks_mut(Self::BLOCK) {
            if self.used + chunk.len() > self.buffer.len() {
                getrandom::fill(&mut self.buffer).map_err(|e| anyhow!("the OS RNG failed: {e}"))?;
                self.used = 0;
            }
            let src = self
                .buffer
                .get(self.used..self.used + chunk.len())
                .ok_or_else(|| anyhow!("random buffer exhausted"))?;
            chunk.copy_from_slice(src);
            self.used += chunk.len();
        }
        Ok(())
    }

    pub fn bytes(&mut self, len: usize) -> Result<Vec<u8>> {
        let mut v = vec![0; len];
        self.fill(&mut v)?;
        Ok(v)
    }

    /// A number below `bound` (> 0); the modulo bias is irrelevant for picking test data.
    pub fn below(&mut self, bound: usize) -> Result<usize> {
        let mut b = [0u8; 8];
        self.fill(&mut b)?;
        Ok(usize::try_from(u64::from_le_bytes(b) % (bound.max(1) as u64)).unwrap_or(0))
    }
}

/// A random P-256 private key as PKCS#8 DER. Scalars must lie in [1, n − 1]
/// (SEC 1 §3.2.1); n starts with 0xFFFFFFFF00000000, so a first word below
/// 0xFFFFFFFF is always below n, and a zero scalar is refused too.
pub fn p256_pkcs8(rng: &mut Random) -> Result<Zeroizing<Vec<u8>>> {
    let mut scalar = Zeroizing::new([0u8; 32]);
    loop {
        rng.fill(scalar.as_mut_slice())?;
        let below_n = scalar.get(..4) != Some(&[0xff; 4][..]);
        if below_n && scalar.iter().any(|&b| b != 0) {
            break;
        }
    }
    let mut der = Zeroizing::new(Vec::with_capacity(P256_PKCS8_PREFIX.len() + 32));
    der.extend_from_slice(&P256_PKCS8_PREFIX);
    der.extend_from_slice(scalar.as_slice());
    Ok(der)
}

/// `count` discoverable ES256 credentials: `on_many` of them on [`RP_MANY`], the rest
/// on `rpN.example` with 1 to 3 accounts each. IDs are random and as long as the
/// ones this device issues ([`CREDENTIAL_ID_LEN`]); credProtect 1, so username-less
/// getAssertion without UV finds them (CTAP 2.1 §12.1).
pub fn generate(count: usize, on_many: usize, rng: &mut Random) -> Result<BackupContents> {
    ensure!(
        on_many <= count,
        "{on_many} accounts on {RP_MANY} exceed {count}"
    );
    let mut credentials = Vec::with_capacity(count);
    for i in 0..on_many {
        credentials.push(credential(RP_MANY, i, credentials.len(), rng)?);
    }
    let mut rp = 0usize;
    while credentials.len() < count {
        let rp_id = format!("rp{rp}.example");
        let accounts = 1 + rng.below(MAX_ACCOUNTS_PER_RP)?;
        for account in 0..accounts.min(count - credentials.len()) {
            credentials.push(credential(&rp_id, account, credentials.len(), rng)?);
        }
        rp += 1;
    }
    Ok(BackupContents {
        credentials,
        ..BackupContents::default()
    })
}

fn credential(
    rp_id: &str,
    account: usize,
    index: usize,
    rng: &mut Random,
) -> Result<BackupCredential> {
    Ok(BackupCredential {
        credential_id: rng.bytes(CREDENTIAL_ID_LEN)?,
        rp_id: rp_id.to_string(),
        rp_name: Some(format!("Relying party {rp_id}")),
        user_id: rng.bytes(USER_ID_LEN)?,
        user_name: Some(format!("user{account}@{rp_id}")),
        user_display_name: Some(format!("User {account}")),
        created: CREATED_BASE + index as u64,
        algorithm: BackupAlgorithm::Es256,
        private_key_pkcs8: p256_pkcs8(rng)?,
        cred_protect: 1,
        cred_blob: None,
        large_blob_key: None,
        hmac: None,
        third_party_payment: false,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use softkey_authenticator::MemoryStore;
    use softkey_authenticator::{import_backup, list_credentials};

    use super::*;

    #[test]
    fn keys_are_pkcs8_the_import_accepts() {
        let mut rng = Random::new();
        let contents = generate(40, 5, &mut rng).unwrap();
        let mut store = MemoryStore::new();
        let report = import_backup(&mut store, &contents).unwrap();
        assert_eq!(report.added.len(), 40);
        assert_eq!(list_credentials(&store).unwrap().len(), 40);
    }

    #[test]
    fn a_damaged_key_is_refused_so_the_format_is_really_checked() {
        let mut rng = Random::new();
        let mut contents = generate(1, 1, &mut rng).unwrap();
        let key = &mut contents.credentials[0].private_key_pkcs8;
        key[1] ^= 1; // outer length
        assert!(import_backup(&mut MemoryStore::new(), &contents).is_err());
    }

    #[test]
    fn accounts_are_spread_as_described() {
        let mut rng = Random::new();
        let contents = generate(1000, 49, &mut rng).unwrap();
        assert_eq!(contents.credentials.len(), 1000);
        let mut per_rp: HashMap<&str, usize> = HashMap::new();
        for c in &contents.credentials {
            *per_rp.entry(c.rp_id.as_str()).or_default() += 1;
            assert_eq!(c.credential_id.len(), CREDENTIAL_ID_LEN);
        }
        assert_eq!(per_rp.remove(RP_MANY), Some(49));
        assert!(
            per_rp
                .values()
                .all(|&n| (1..=MAX_ACCOUNTS_PER_RP).contains(&n))
        );
        // Random IDs do not repeat.
        let mut ids: Vec<_> = contents
            .credentials
            .iter()
            .map(|c| &c.credential_id)
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 1000);
    }

    #[test]
    fn random_blocks_refill_and_below_stays_in_range() {
        let mut rng = Random::new();
        let a = rng.bytes(Random::BLOCK - 3).unwrap();
        let b = rng.bytes(100).unwrap();
        assert_ne!(a[..32], b[..32]);
        assert!((0..1000).all(|_| rng.below(7).unwrap() < 7));
    }
}
