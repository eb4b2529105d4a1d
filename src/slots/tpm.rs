//! TPM 2.0 key slots: a random 32-byte KEK sealed to this machine's TPM (vault/FORMAT.md
//! "Key slots", SECURITY.md "Key slots").
//!
//! The TPM signs nothing and holds no credential: it releases one KEK at unlock, so every
//! algorithm and the sub-millisecond assertions stay in softkey. The KEK is a sealed data
//! object under the owner hierarchy's storage key, which is not stored anywhere: it is derived
//! again at every unlock from the TPM's owner seed with the TCG's ECC P-256 storage-key
//! template, so the same blob on another machine (another seed) cannot even be loaded.
//!
//! Optionally the object's policy binds it to PCR values of the SHA-256 bank as they are at
//! enrolment (PolicyPCR), and/or to a PIN (PolicyAuthValue; the TPM's dictionary-attack
//! lockout counts wrong PINs). Both sessions are salted with the storage key, so the KEK and
//! the PIN cross the bus to a discrete TPM encrypted (parameter encryption, AES-128-CFB).
//!
//! The TPM is found through `SOFTKEY_TPM_TCTI` (a TCTI string such as `device:/dev/tpmrm0` or
//! `swtpm:host=127.0.0.1,port=2321`), else the tpm2-tools variables, else `/dev/tpmrm0`.

use std::str::FromStr;

use anyhow::{Context as _, Result, bail};
use tss_esapi::attributes::{ObjectAttributesBuilder, SessionAttributesBuilder};
use tss_esapi::constants::SessionType;
use tss_esapi::handles::{KeyHandle, ObjectHandle};
use tss_esapi::interface_types::algorithm::{HashingAlgorithm, PublicAlgorithm};
use tss_esapi::interface_types::ecc::EccCurve;
use tss_esapi::interface_types::resource_handles::Hierarchy;
use tss_esapi::interface_types::session_handles::{AuthSession, PolicySession};
use tss_esapi::structures::{
    Auth, Digest, EccPoint, KeyedHashScheme, PcrSelectionList, PcrSelectionListBuilder, PcrSlot,
    Private, Public, PublicBuilder, PublicEccParametersBuilder, PublicKeyedHashParameters,
    SensitiveData, SymmetricDefinition, SymmetricDefinitionObject,
};
use tss_esapi::traits::{Marshall, UnMarshall};
use tss_esapi::{Context, TctiNameConf};
use zeroize::Zeroizing;

/// The environment variable naming the TPM.
pub const TCTI_VARIABLE: &str = "SOFTKEY_TPM_TCTI";
/// The kernel's resource-managed TPM device: what a machine with a TPM has.
const DEFAULT_TCTI: &str = "device:/dev/tpmrm0";
/// Version byte of the blob layout below.
const BLOB_VERSION: u8 = 1;
/// Blob flag: the object's policy asks for a PIN.
const FLAG_PIN: u8 = 0x01;
/// PCRs 0..=23 of the SHA-256 bank.
const PCR_COUNT: u8 = 24;

/// How the KEK is bound: to PCR values at enrolment, to a PIN, both or neither.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Binding {
    /// PCR indices (0..=23) of the SHA-256 bank.
    pub pcrs: Vec<u8>,
    /// Whether unsealing asks for a PIN.
    pub pin: bool,
}

impl Binding {
    /// Whether the sealed object has a policy (PCRs, PIN or both).
    fn has_policy(&self) -> bool {
        !self.pcrs.is_empty() || self.pin
    }

    /// How `slot list` and the SECURITY.md table name it.
    pub fn describe(&self) -> String {
        let pcrs = if self.pcrs.is_empty() {
            "not bound to PCRs".to_owned()
        } else {
            let list: Vec<String> = self.pcrs.iter().map(u8::to_string).collect();
            format!("bound to PCR {}", list.join(","))
        };
        if self.pin {
            format!("{pcrs}, with a TPM PIN")
        } else {
            pcrs
        }
    }
}

/// The sealed object as kept in the vault slot: layout version, flags, PCR mask (u32 LE, bit n
/// = PCR n), then the storage key's TPM name, TPM2B_PUBLIC and TPM2B_PRIVATE, each with a u16
/// LE length.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Blob {
    binding: Binding,
    /// The name (hash of the public area) of the storage key at enrolment: checked before any
    /// secret is sent to the TPM, so a device answering in its place with a key of its own
    /// receives nothing it can decrypt.
    storage_key_name: Vec<u8>,
    public: Vec<u8>,
    private: Vec<u8>,
}

impl Blob {
    fn encode(&self) -> Vec<u8> {
        let mask: u32 = self.binding.pcrs.iter().fold(0, |m, &p| m | (1 << p));
        let mut out = vec![BLOB_VERSION, if self.binding.pin { FLAG_PIN } else { 0 }];
        out.extend_from_slice(&mask.to_le_bytes());
        for part in [&self.storage_key_name, &self.public, &self.private] {
            out.extend_from_slice(&(part.len() as u16).to_le_bytes());
            out.extend_from_slice(part);
        }
        out
    }

    fn parse(bytes: &[u8]) -> Result<Self> {
        let bad = || anyhow::anyhow!("the TPM slot's sealed object is damaged");
        let (&[version, flags], rest) = bytes.split_first_chunk::<2>().ok_or_else(bad)?;
        if version != BLOB_VERSION {
            bail!("the TPM slot was written by a newer softkey (layout {version})");
        }
        let (mask, mut rest) = rest.split_first_chunk::<4>().ok_or_else(bad)?;
        let mask = u32::from_le_bytes(*mask);
        let mut parts = Vec::new();
        for _ in 0..3 {
            let (len, tail) = rest.split_first_chunk::<2>().ok_or_else(bad)?;
            let (part, tail) = tail
                .split_at_checked(usize::from(u16::from_le_bytes(*len)))
                .ok_or_else(bad)?;
            parts.push(part.to_vec());
            rest = tail;
        }
        if !rest.is_empty() || flags & !FLAG_PIN != 0 || mask >> PCR_COUNT != 0 {
            return Err(bad());
        }
        let private = parts.pop().ok_or_else(bad)?;
        let public = parts.pop().ok_or_else(bad)?;
        let storage_key_name = parts.pop().ok_or_else(bad)?;
        Ok(Self {
            binding: Binding {
                pcrs: (0..PCR_COUNT).filter(|p| mask & (1 << p) != 0).collect(),
                pin: flags & FLAG_PIN != 0,
            },
            storage_key_name,
            public,
            private,
        })
    }
}

/// How a slot's sealed blob is bound, for `slot list`; `None` if it cannot be read.
pub fn binding_of(blob: &[u8]) -> Option<Binding> {
    Blob::parse(blob).ok().map(|b| b.binding)
}

/// The TCTI string of the TPM to use: `SOFTKEY_TPM_TCTI`, else the tpm2-tools variables, else
/// the kernel's resource-managed device.
pub fn tcti_from_environment() -> String {
    std::env::var(TCTI_VARIABLE)
        .or_else(|_| std::env::var("TPM2TOOLS_TCTI"))
        .or_else(|_| std::env::var("TCTI"))
        .unwrap_or_else(|_| DEFAULT_TCTI.to_owned())
}

/// Seals a fresh random KEK to the TPM at `tcti`. Returns the blob for the vault slot and the
/// KEK.
pub fn seal(
    tcti: &str,
    binding: &Binding,
    pin: Option<&[u8]>,
) -> Result<(Vec<u8>, Zeroizing<[u8; 32]>)> {
    if binding.pin != pin.is_some() {
        bail!("a TPM PIN slot needs the PIN, and only then");
    }
    if let Some(&p) = binding.pcrs.iter().find(|&&p| p >= PCR_COUNT) {
        bail!("there is no PCR {p}: the SHA-256 bank has PCRs 0 to 23");
    }
    let mut kek = Zeroizing::new([0u8; 32]);
    getrandom::fill(kek.as_mut_slice())
        .map_err(|e| anyhow::anyhow!("no random numbers from the operating system: {e}"))?;
    let mut tpm = Tpm::connect(tcti)?;
    let storage_key = tpm.storage_key()?;
    let storage_key_name = tpm
        .context
        .tr_get_name(storage_key.into())
        .context("reading the storage key's name")?
        .value()
        .to_vec();
    let policy = tpm.policy_digest(storage_key, binding)?;
    let object = sealed_object_template(policy, binding)?;
    let auth = pin.map(auth_value).transpose()?;
    let data = SensitiveData::try_from(kek.to_vec()).context("building the sealed data")?;
    let session = tpm.salted_session(storage_key, SessionType::Hmac)?;
    let created = tpm
        .context
        .execute_with_session(Some(session), |c| {
            c.create(storage_key, object, auth, Some(data), None, None)
        })
        .context("the TPM refused to seal the vault key")?;
    let blob = Blob {
        binding: binding.clone(),
        storage_key_name,
        public: created
            .out_public
            .marshall()
            .context("encoding the sealed object")?,
        private: created.out_private.value().to_vec(),
    };
    Ok((blob.encode(), kek))
}

/// Unseals the KEK in `blob`: fails on another machine's TPM, with PCR values other than at
/// enrolment, or with a wrong PIN (which the TPM counts towards its lockout).
pub fn unseal(tcti: &str, blob: &[u8], pin: Option<&[u8]>) -> Result<Zeroizing<[u8; 32]>> {
    let blob = Blob::parse(blob)?;
    if blob.binding.pin && pin.is_none() {
        bail!("this TPM slot needs its PIN");
    }
    let public = Public::unmarshall(&blob.public).context("the TPM slot's public part")?;
    let private = Private::try_from(blob.private.clone()).context("the TPM slot's private part")?;
    let mut tpm = Tpm::connect(tcti)?;
    let storage_key = tpm.storage_key()?;
    let name = tpm
        .context
        .tr_get_name(storage_key.into())
        .context("reading the storage key's name")?;
    // Before any salted session: its salt is encrypted to this key.
    if name.value() != blob.storage_key_name.as_slice() {
        bail!(
            "this TPM's storage key is not the one the slot was sealed under: it was sealed by \
             another machine's TPM, this TPM was cleared, or something answers in its place"
        );
    }
    let session = tpm.salted_session(storage_key, SessionType::Hmac)?;
    let loaded = tpm
        .context
        .execute_with_session(Some(session), |c| c.load(storage_key, private, public))
        .context("the TPM does not accept this slot's sealed object (damaged?)")?;
    let object: ObjectHandle = loaded.into();
    if let Some(pin) = pin.filter(|_| blob.binding.pin) {
        tpm.context
            .tr_set_auth(object, auth_value(pin)?)
            .context("setting the TPM PIN")?;
    }
    // An object with a policy is opened by running it; one without, by its empty authValue.
    let session = if blob.binding.has_policy() {
        let policy = tpm.salted_session(storage_key, SessionType::Policy)?;
        tpm.run_policy(policy, &blob.binding)?;
        policy
    } else {
        session
    };
    let unsealed = tpm
        .context
        .execute_with_session(Some(session), |c| c.unseal(object))
        .map_err(|e| anyhow::Error::new(e).context(refusal(&blob.binding)))?;
    let unsealed = Zeroizing::new(unsealed.value().to_vec());
    let kek: [u8; 32] = unsealed
        .as_slice()
        .try_into()
        .map_err(|_| anyhow::anyhow!("the TPM released {} bytes, not a key", unsealed.len()))?;
    Ok(Zeroizing::new(kek))
}

/// What a refused unseal most likely means, for the error message.
fn refusal(binding: &Binding) -> String {
    match (binding.pcrs.is_empty(), binding.pin) {
        (true, false) => "the TPM refused to unseal the vault key".to_owned(),
        (false, false) => "the TPM refused to unseal the vault key: the PCR values differ from \
                           enrolment (another boot path, firmware or kernel)"
            .to_owned(),
        (true, true) => "the TPM refused to unseal the vault key: wrong TPM PIN".to_owned(),
        (false, true) => "the TPM refused to unseal the vault key: wrong TPM PIN, or the PCR \
                          values differ from enrolment"
            .to_owned(),
    }
}

/// A PIN as the object's authValue: its SHA-256, so any length fits the TPM's limit.
fn auth_value(pin: &[u8]) -> Result<Auth> {
    use sha2::Digest as _;
    let mut digest: Zeroizing<[u8; 32]> = Zeroizing::new(sha2::Sha256::digest(pin).into());
    let auth = Auth::try_from(digest.as_slice()).context("building the TPM PIN");
    zeroize::Zeroize::zeroize(&mut *digest);
    auth
}

/// An open connection to the TPM. Every transient object and session made through it is
/// flushed when it is dropped, on every path, by the binding's own handle bookkeeping: a TPM
/// reached without a resource manager (swtpm, mssim) would otherwise keep them until reset.
struct Tpm {
    context: Context,
}

impl Tpm {
    fn connect(name: &str) -> Result<Self> {
        // The binding parses network TCTI options itself and knows only host= and port=: a
        // Unix socket path would silently become localhost:2321, someone else's TPM.
        let network = name.starts_with("swtpm:") || name.starts_with("mssim:");
        if network
            && name
                .split_once(':')
                .is_some_and(|(_, options)| options.split(',').any(|o| o.starts_with("path=")))
        {
            bail!("{TCTI_VARIABLE}={name}: a swtpm or mssim TPM is named by host= and port= here");
        }
        let tcti = TctiNameConf::from_str(name)
            .with_context(|| format!("{TCTI_VARIABLE}={name} is not a TCTI string"))?;
        let context = Context::new(tcti).with_context(|| {
            format!(
                "cannot reach the TPM at {name}: is there one (ls /dev/tpmrm0), and may this \
                 user open it (the tss group)? Another TPM is named with {TCTI_VARIABLE}"
            )
        })?;
        Ok(Self { context })
    }

    /// The owner hierarchy's ECC P-256 storage key, derived again from the owner seed (the
    /// same key every time on this TPM, another one on any other).
    fn storage_key(&mut self) -> Result<KeyHandle> {
        let attributes = ObjectAttributesBuilder::new()
            .with_fixed_tpm(true)
            .with_fixed_parent(true)
            .with_sensitive_data_origin(true)
            .with_user_with_auth(true)
            .with_decrypt(true)
            .with_restricted(true)
            .with_no_da(true)
            .build()
            .context("storage key attributes")?;
        let params = PublicEccParametersBuilder::new_restricted_decryption_key(
            SymmetricDefinitionObject::AES_128_CFB,
            EccCurve::NistP256,
        )
        .build()
        .context("storage key parameters")?;
        let template = PublicBuilder::new()
            .with_public_algorithm(PublicAlgorithm::Ecc)
            .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
            .with_object_attributes(attributes)
            .with_ecc_parameters(params)
            .with_ecc_unique_identifier(EccPoint::default())
            .build()
            .context("storage key template")?;
        let created = self
            .context
            .execute_with_nullauth_session(|c| {
                c.create_primary(Hierarchy::Owner, template, None, None, None, None)
            })
            .context(
                "the TPM would not derive its storage key (is the owner hierarchy protected \
                 by a password?)",
            )?;
        Ok(created.key_handle)
    }

    /// A session salted with the storage key, encrypting the first parameter both ways.
    fn salted_session(&mut self, salt: KeyHandle, kind: SessionType) -> Result<AuthSession> {
        let session = self
            .context
            .start_auth_session(
                Some(salt),
                None,
                None,
                kind,
                SymmetricDefinition::AES_128_CFB,
                HashingAlgorithm::Sha256,
            )
            .context("starting a TPM session")?
            .ok_or_else(|| anyhow::anyhow!("the TPM started no session"))?;
        let (attributes, mask) = SessionAttributesBuilder::new()
            .with_decrypt(true)
            .with_encrypt(true)
            .with_continue_session(true)
            .build();
        self.context
            .tr_sess_set_attributes(session, attributes, mask)
            .context("setting the TPM session's attributes")?;
        Ok(session)
    }

    /// Runs the object's policy in `session`: PolicyPCR over the chosen PCRs with their
    /// current values, then PolicyAuthValue if a PIN is asked.
    fn run_policy(&mut self, session: AuthSession, binding: &Binding) -> Result<()> {
        let policy = PolicySession::try_from(session).context("a policy session")?;
        if let Some(selection) = pcr_selection(binding)? {
            self.context
                .policy_pcr(policy, Digest::default(), selection)
                .context("TPM PolicyPCR")?;
        }
        if binding.pin {
            self.context
                .policy_auth_value(policy)
                .context("TPM PolicyAuthValue")?;
        }
        Ok(())
    }

    /// The policy digest of `binding` from a trial session; `None` without PCRs or PIN.
    fn policy_digest(&mut self, salt: KeyHandle, binding: &Binding) -> Result<Option<Digest>> {
        if !binding.has_policy() {
            return Ok(None);
        }
        let trial = self.salted_session(salt, SessionType::Trial)?;
        self.run_policy(trial, binding)?;
        let digest = self
            .context
            .policy_get_digest(PolicySession::try_from(trial).context("a trial session")?)
            .context("TPM PolicyGetDigest")?;
        Ok(Some(digest))
    }
}

fn pcr_selection(binding: &Binding) -> Result<Option<PcrSelectionList>> {
    if binding.pcrs.is_empty() {
        return Ok(None);
    }
    let slots = binding
        .pcrs
        .iter()
        .map(|&p| PcrSlot::try_from(1u32 << p).context("a PCR index"))
        .collect::<Result<Vec<_>>>()?;
    let list = PcrSelectionListBuilder::new()
        .with_selection(HashingAlgorithm::Sha256, &slots)
        .build()
        .context("the PCR selection")?;
    Ok(Some(list))
}

/// The sealed data object: fixed to this TPM and parent; opened by its policy when it has
/// one, else by an empty authValue (then only possession of the blob and this TPM count).
fn sealed_object_template(policy: Option<Digest>, binding: &Binding) -> Result<Public> {
    let attributes = ObjectAttributesBuilder::new()
        .with_fixed_tpm(true)
        .with_fixed_parent(true)
        .with_user_with_auth(policy.is_none())
        // Wrong PINs count towards the TPM's dictionary-attack lockout.
        .with_no_da(!binding.pin)
        .build()
        .context("sealed object attributes")?;
    PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::KeyedHash)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attributes)
        .with_auth_policy(policy.unwrap_or_default())
        .with_keyed_hash_parameters(PublicKeyedHashParameters::new(KeyedHashScheme::Null))
        .with_keyed_hash_unique_identifier(Digest::default())
        .build()
        .context("sealed object template")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code: a panic is a test failure")]
    use super::*;

    #[test]
    fn blob_layout_round_trips_and_refuses_damage() {
        let blob = Blob {
            binding: Binding {
                pcrs: vec![0, 7, 23],
                pin: true,
            },
            storage_key_name: vec![3; 34],
            public: vec![1; 78],
            private: vec![2; 158],
        };
        let bytes = blob.encode();
        assert_eq!(bytes.get(..6), Some(&[1, 1, 0x81, 0, 0x80, 0][..]));
        assert_eq!(Blob::parse(&bytes).unwrap(), blob);
        for len in 0..bytes.len() {
            assert!(Blob::parse(&bytes[..len]).is_err(), "{len}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Blob::parse(&longer).is_err());
        let mut newer = bytes.clone();
        newer[0] = 2;
        assert!(Blob::parse(&newer).is_err());
        let mut pcr24 = bytes;
        pcr24[5] = 1;
        assert!(Blob::parse(&pcr24).is_err());
        assert_eq!(
            blob.binding.describe(),
            "bound to PCR 0,7,23, with a TPM PIN"
        );
    }
}
