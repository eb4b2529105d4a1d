//! `softkey export` / `softkey import`: the discoverable credentials (and the
//! device state a restore needs) as a CXF-shaped JSON document ([`cxf`]),
//! sealed under its own passphrase by `softkey_vault::backup`.

pub mod cxf;
mod file;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use softkey_authenticator::{BackupAlgorithm, BackupContents, BackupCredential, HmacCredentials};
use zeroize::{Zeroize, Zeroizing};

use cxf::{
    Account, DeviceExtension, Fido2Extensions, Header, Item, Passkey, PasskeyExtension, Scope,
    Version,
};

pub use file::{check_target, write_new_file};

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url, tolerating padding (CXF says unpadded; be lenient on input).
fn unb64(text: &str, what: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| anyhow!("{what} is not valid base64url"))
}

fn unb64_secret(text: &str, what: &str) -> Result<Zeroizing<Vec<u8>>> {
    unb64(text, what).map(Zeroizing::new)
}

fn key32(bytes: &[u8], what: &str) -> Result<Zeroizing<[u8; 32]>> {
    let array: [u8; 32] = bytes
        .try_into()
        .map_err(|_| anyhow!("{what} must be 32 bytes"))?;
    Ok(Zeroizing::new(array))
}

/// A stable, opaque CXF item id: the first 16 bytes of SHA-256(credential id).
fn item_id(credential_id: &[u8]) -> String {
    let digest = Sha256::digest(credential_id);
    b64(digest.get(..16).unwrap_or(&digest))
}

/// The backup as CXF JSON. The returned text holds private keys: zeroized on drop.
pub fn to_cxf(contents: &BackupContents, account_id: &[u8], now: u64) -> Result<Zeroizing<String>> {
    let items = contents
        .credentials
        .iter()
        .map(to_item)
        .collect::<Result<Vec<_>>>()?;
    let device = DeviceExtension {
        name: cxf::DEVICE_EXTENSION.into(),
        sign_count: contents.sign_count,
        wrap_keys: contents
            .wrap_keys
            .iter()
            .map(|k| b64(k.as_slice()))
            .collect(),
        large_blob_array: contents.large_blob_array.as_deref().map(b64),
    };
    let mut header = Header {
        version: Version {
            major: cxf::CXF_MAJOR,
            minor: cxf::CXF_MINOR,
        },
        exporter_rp_id: cxf::EXPORTER_RP_ID.into(),
        exporter_display_name: cxf::EXPORTER_DISPLAY_NAME.into(),
        timestamp: now,
        accounts: vec![Account {
            id: b64(account_id),
            username: String::new(),
            email: String::new(),
            collections: Vec::new(),
            items,
            extensions: vec![serde_json::to_value(&device)?],
        }],
    };
    let text = serde_json::to_string_pretty(&header).map(Zeroizing::new);
    scrub_header(&mut header);
    Ok(text?)
}

fn to_item(credential: &BackupCredential) -> Result<Item> {
    let hmac_credentials = credential.hmac.as_ref().map(|h| cxf::HmacCredentials {
        algorithm: cxf::HMAC_SHA256.into(),
        cred_with_uv: b64(h.with_uv.as_slice()),
        cred_without_uv: b64(h.without_uv.as_slice()),
    });
    let fido2_extensions = Fido2Extensions {
        hmac_credentials,
        cred_blob: credential.cred_blob.as_deref().map(b64),
        payments: credential.third_party_payment.then_some(true),
    };
    let mut passkey = Passkey {
        kind: "passkey".into(),
        credential_id: b64(&credential.credential_id),
        rp_id: credential.rp_id.clone(),
        username: credential.user_name.clone().unwrap_or_default(),
        user_display_name: credential.user_display_name.clone().unwrap_or_default(),
        user_handle: b64(&credential.user_id),
        key: b64(&credential.private_key_pkcs8),
        fido2_extensions: Some(fido2_extensions),
    };
    let extension = PasskeyExtension {
        name: cxf::PASSKEY_EXTENSION.into(),
        cred_protect: credential.cred_protect,
        rp_name: credential.rp_name.clone(),
        large_blob_key: credential
            .large_blob_key
            .as_ref()
            .map(|k| b64(k.as_slice())),
        algorithm: Some(credential.algorithm.cose()),
    };
    let item = Item {
        id: item_id(&credential.credential_id),
        creation_at: Some(credential.created),
        modified_at: None,
        title: credential
            .rp_name
            .clone()
            .unwrap_or_else(|| credential.rp_id.clone()),
        subtitle: credential.user_name.clone(),
        scope: Some(Scope {
            urls: vec![format!("https://{}", credential.rp_id)],
            android_apps: Vec::new(),
        }),
        credentials: vec![serde_json::to_value(&passkey)?],
        extensions: vec![serde_json::to_value(&extension)?],
    };
    passkey.key.zeroize();
    Ok(item)
}

/// What a CXF document held that softkey does not import.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Credentials of other CXF types (passwords, notes, …).
    pub other_credentials: usize,
}

/// Parses a CXF document (ours or another provider's) into backup contents.
pub fn from_cxf(json: &[u8]) -> Result<(BackupContents, Skipped)> {
    let mut header: Header =
        serde_json::from_slice(json).context("the backup is not a CXF document")?;
    let result = contents_of(&header);
    scrub_header(&mut header);
    result
}

fn contents_of(header: &Header) -> Result<(BackupContents, Skipped)> {
    if header.version.major != cxf::CXF_MAJOR {
        bail!(
            "CXF version {}.{} is not supported (softkey reads {}.x)",
            header.version.major,
            header.version.minor,
            cxf::CXF_MAJOR
        );
    }
    let mut contents = BackupContents {
        credentials: Vec::new(),
        sign_count: 0,
        wrap_keys: Vec::new(),
        large_blob_array: None,
    };
    let mut skipped = Skipped::default();
    for account in &header.accounts {
        for extension in &account.extensions {
            if extension_name(extension) == Some(cxf::DEVICE_EXTENSION) {
                let device: DeviceExtension = serde_json::from_value(extension.clone())
                    .context("malformed softkey-device extension")?;
                contents.sign_count = contents.sign_count.max(device.sign_count);
                for key in &device.wrap_keys {
                    let raw = unb64_secret(key, "a wrap key")?;
                    contents.wrap_keys.push(key32(&raw, "a wrap key")?);
                }
                if let Some(array) = &device.large_blob_array {
                    contents.large_blob_array = Some(unb64(array, "the large-blob array")?);
                }
            }
        }
        for (index, item) in account.items.iter().enumerate() {
            for credential in &item.credentials {
                if credential.get("type").and_then(|t| t.as_str()) != Some("passkey") {
                    skipped.other_credentials += 1;
                    continue;
                }
                let parsed = from_passkey(credential, item)
                    .with_context(|| format!("item {} ({:?})", index + 1, item.title))?;
                contents.credentials.push(parsed);
            }
        }
    }
    Ok((contents, skipped))
}

fn extension_name(extension: &serde_json::Value) -> Option<&str> {
    extension.get("name").and_then(|n| n.as_str())
}

fn from_passkey(value: &serde_json::Value, item: &Item) -> Result<BackupCredential> {
    let mut passkey = Passkey::deserialize_from(value)?;
    let extension = item
        .extensions
        .iter()
        .find(|e| extension_name(e) == Some(cxf::PASSKEY_EXTENSION))
        .map(|e| serde_json::from_value::<PasskeyExtension>(e.clone()))
        .transpose()
        .context("malformed softkey-passkey extension")?;
    let private_key_pkcs8 = unb64_secret(&passkey.key, "the private key");
    passkey.key.zeroize();
    let private_key_pkcs8 = private_key_pkcs8?;
    let algorithm = match extension.as_ref().and_then(|e| e.algorithm) {
        Some(cose) => BackupAlgorithm::from_cose(cose)
            .ok_or_else(|| anyhow!("COSE algorithm {cose} is not one softkey signs with"))?,
        None => BackupAlgorithm::of_pkcs8(&private_key_pkcs8).ok_or_else(|| {
            anyhow!("the private key is not a PKCS#8 key of an algorithm softkey signs with")
        })?,
    };
    let fido2 = passkey.fido2_extensions.take().unwrap_or_default();
    let hmac = match fido2.hmac_credentials {
        Some(h) if h.algorithm == cxf::HMAC_SHA256 => Some(HmacCredentials {
            with_uv: key32(&unb64_secret(&h.cred_with_uv, "credWithUV")?, "credWithUV")?,
            without_uv: key32(
                &unb64_secret(&h.cred_without_uv, "credWithoutUV")?,
                "credWithoutUV",
            )?,
        }),
        Some(h) => bail!(
            "hmacCredentials algorithm {:?} is not supported",
            h.algorithm
        ),
        None => None,
    };
    let large_blob_key = match extension.as_ref().and_then(|e| e.large_blob_key.as_deref()) {
        Some(k) => Some(key32(&unb64_secret(k, "largeBlobKey")?, "largeBlobKey")?),
        None => None,
    };
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    Ok(BackupCredential {
        credential_id: unb64(&passkey.credential_id, "credentialId")?,
        rp_id: passkey.rp_id.clone(),
        rp_name: extension.as_ref().and_then(|e| e.rp_name.clone()),
        user_id: unb64(&passkey.user_handle, "userHandle")?,
        user_name: non_empty(&passkey.username),
        user_display_name: non_empty(&passkey.user_display_name),
        created: item.creation_at.unwrap_or(0),
        algorithm,
        private_key_pkcs8,
        cred_protect: extension.as_ref().map_or(1, |e| e.cred_protect),
        cred_blob: fido2
            .cred_blob
            .as_deref()
            .map(|b| unb64(b, "credBlob"))
            .transpose()?,
        large_blob_key,
        hmac,
        third_party_payment: fido2.payments.unwrap_or(false),
    })
}

impl Passkey {
    fn deserialize_from(value: &serde_json::Value) -> Result<Passkey> {
        use serde::Deserialize;
        Passkey::deserialize(value).context("malformed passkey credential")
    }
}

/// Best-effort wipe of every string in the parsed document (keys travel as
/// base64url strings inside `serde_json::Value`s).
fn scrub_header(header: &mut Header) {
    for account in &mut header.accounts {
        for item in &mut account.items {
            item.credentials.iter_mut().for_each(scrub_value);
            item.extensions.iter_mut().for_each(scrub_value);
        }
        account.extensions.iter_mut().for_each(scrub_value);
    }
}

fn scrub_value(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => s.zeroize(),
        serde_json::Value::Array(items) => items.iter_mut().for_each(scrub_value),
        serde_json::Value::Object(map) => map.values_mut().for_each(scrub_value),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
