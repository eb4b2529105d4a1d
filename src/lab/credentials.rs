//! The W3C credential controls of a lab authenticator (WebAuthn Level 3
//! §11.4–§11.8: Add Credential, Get Credentials, Remove Credential, Remove
//! All Credentials, Set Credential Properties), on its store between
//! requests. A discoverable credential is stored as a backup import stores
//! one; a non-discoverable one as a record found by its ID alone
//! (`add_non_discoverable`); a large blob goes into the large-blob array
//! under the credential's largeBlobKey, DEFLATE-compressed as a platform
//! writes it (CTAP 2.1 §6.10.3).

use miniz_oxide::deflate::compress_to_vec;
use miniz_oxide::inflate::decompress_to_vec_with_limit;
use softkey_authenticator::{
    BackupContents, BackupCredential, CompressedBlob, CredentialProperties, CredentialSelector,
    add_non_discoverable, credential_properties, delete_credentials, delete_non_discoverable,
    export_backup, import_backup, large_blob, non_discoverable_credentials,
    set_credential_properties, set_large_blob, set_non_discoverable_properties,
};

use super::authenticators::{Lab, LabError};

/// A blob larger than this is not inflated for Get Credentials: the array
/// holds 16 KiB, and DEFLATE shrinks text at most about a thousandfold.
const MAX_INFLATED_BLOB: usize = 16 << 20;
/// miniz's level 6, zlib's default.
const DEFLATE_LEVEL: u8 = 6;

/// A credential as Add Credential takes it and Get Credentials shows it.
#[derive(Debug)]
pub struct LabCredential {
    pub credential: BackupCredential,
    /// Its counter and backup flags.
    pub properties: CredentialProperties,
    /// W3C `isResidentCredential`.
    pub resident: bool,
    /// W3C `largeBlob` (discoverable credentials only).
    pub large_blob: Option<Vec<u8>>,
}

fn not_found() -> LabError {
    LabError {
        not_found: true,
        message: "no such credential on this authenticator".into(),
    }
}

impl Lab {
    /// W3C Add Credential, validated as a backup import is.
    pub fn add_credential(&self, id: &str, new: LabCredential) -> Result<(), LabError> {
        if new.large_blob.is_some() && !new.resident {
            // CTAP 2.1 §12.3: largeBlobKey is a discoverable credential's.
            return Err(LabError::invalid(
                "largeBlob needs a discoverable credential (isResidentCredential true)",
            ));
        }
        let credential_id = new.credential.credential_id.clone();
        self.with_key(id, |key| {
            key.change_store(|store| {
                if !new.resident {
                    return add_non_discoverable(store, &new.credential, new.properties)
                        .map_err(|e| LabError::invalid(e.to_string()));
                }
                let contents = BackupContents {
                    credentials: vec![new.credential],
                    sign_count: 0,
                    wrap_keys: Vec::new(),
                    large_blob_array: None,
                };
                let report = import_backup(store, &contents)
                    .map_err(|e| LabError::invalid(e.to_string()))?;
                if !report.kept_existing.is_empty() {
                    return Err(LabError::invalid(
                        "a credential with this id already exists on this authenticator",
                    ));
                }
                set_credential_properties(store, &credential_id, new.properties)
                    .map_err(|e| LabError::invalid(e.to_string()))?;
                let Some(blob) = &new.large_blob else {
                    return Ok(());
                };
                let compressed = CompressedBlob {
                    compressed: compress_to_vec(blob, DEFLATE_LEVEL),
                    orig_size: u64::try_from(blob.len()).unwrap_or(u64::MAX),
                };
                if let Err(e) = set_large_blob(store, &credential_id, &compressed, &mut fill) {
                    // All or nothing: the credential goes again.
                    let ids = [credential_id.clone()];
                    delete_credentials(store, &CredentialSelector::Ids(&ids))
                        .map_err(|e| LabError::invalid(e.to_string()))?;
                    return Err(LabError::invalid(format!(
                        "the large blob does not fit the large-blob array: {:?}",
                        e.status()
                    )));
                }
                Ok(())
            })
        })?
    }

    /// W3C Get Credentials: every credential, discoverable ones first,
    /// with its private key, properties and large blob.
    pub fn credentials(&self, id: &str) -> Result<Vec<LabCredential>, LabError> {
        self.with_key(id, |key| {
            let store = key.store();
            let invalid = |e: &dyn std::fmt::Display| LabError::invalid(e.to_string());
            let contents = export_backup(store).map_err(|e| invalid(&e))?;
            let properties = credential_properties(store).map_err(|e| invalid(&e))?;
            let mut out = Vec::new();
            for credential in contents.credentials {
                let properties = properties
                    .iter()
                    .find(|(cid, _)| *cid == credential.credential_id)
                    .map(|(_, p)| *p)
                    .unwrap_or_default();
                let large_blob = large_blob(store, &credential.credential_id)
                    .map_err(|e| LabError::invalid(format!("{:?}", e.status())))?
                    .and_then(|blob| inflate(&blob));
                out.push(LabCredential {
                    credential,
                    properties,
                    resident: true,
                    large_blob,
                });
            }
            for (credential, properties) in
                non_discoverable_credentials(store).map_err(|e| invalid(&e))?
            {
                out.push(LabCredential {
                    credential,
                    properties,
                    resident: false,
                    large_blob: None,
                });
            }
            Ok(out)
        })?
    }

    /// W3C Set Credential Properties: `change` edits the current ones.
    pub fn set_credential_properties(
        &self,
        id: &str,
        credential_id: &[u8],
        change: impl FnOnce(&mut CredentialProperties),
    ) -> Result<(), LabError> {
        self.with_key(id, |key| {
            key.change_store(|store| {
                let invalid = |e: &dyn std::fmt::Display| LabError::invalid(e.to_string());
                let discoverable = credential_properties(store)
                    .map_err(|e| invalid(&e))?
                    .into_iter()
                    .find(|(cid, _)| cid == credential_id);
                if let Some((_, mut properties)) = discoverable {
                    change(&mut properties);
                    return set_credential_properties(store, credential_id, properties)
                        .map(drop)
                        .map_err(|e| invalid(&e));
                }
                let (_, mut properties) = non_discoverable_credentials(store)
                    .map_err(|e| invalid(&e))?
                    .into_iter()
                    .find(|(c, _)| c.credential_id == credential_id)
                    .ok_or_else(not_found)?;
                change(&mut properties);
                set_non_discoverable_properties(store, credential_id, properties)
                    .map(drop)
                    .map_err(|e| invalid(&e))
            })
        })?
    }

    /// W3C Remove Credential (`Some`) and Remove All Credentials (`None`);
    /// removing an absent credential is an error.
    pub fn remove_credentials(&self, id: &str, credential: Option<&[u8]>) -> Result<(), LabError> {
        self.with_key(id, |key| {
            key.change_store(|store| {
                let invalid = |e: &dyn std::fmt::Display| LabError::invalid(e.to_string());
                let ids = match credential {
                    Some(credential_id) => vec![credential_id.to_vec()],
                    None => softkey_authenticator::list_credentials(store)
                        .map_err(|e| invalid(&e))?
                        .into_iter()
                        .map(|c| c.credential_id)
                        .collect(),
                };
                let discoverable = delete_credentials(store, &CredentialSelector::Ids(&ids))
                    .map_err(|e| invalid(&e))?
                    .len();
                let other = delete_non_discoverable(store, credential)
                    .map_err(|e| LabError::invalid(format!("{:?}", e.status())))?;
                if credential.is_some() && discoverable + other == 0 {
                    return Err(not_found());
                }
                Ok(())
            })
        })?
    }
}

/// The OS random number generator, for largeBlobKeys and nonces.
fn fill(buf: &mut [u8]) {
    // No key material is made without the OS RNG.
    #[allow(clippy::expect_used)]
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}

/// The blob back from its DEFLATE form, if it inflates to its stated size.
fn inflate(blob: &CompressedBlob) -> Option<Vec<u8>> {
    let size = usize::try_from(blob.orig_size).ok()?;
    if size > MAX_INFLATED_BLOB {
        return None;
    }
    decompress_to_vec_with_limit(&blob.compressed, size)
        .ok()
        .filter(|data| data.len() == size)
}
