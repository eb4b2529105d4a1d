//! The backup payload in the shape of the FIDO Credential Exchange Format
//! (CXF 1.0 Proposed Standard, 2025-08): a `Header` with one `Account` whose
//! `Item`s each hold one `passkey` credential.
//!
//! softkey-specific data rides in CXF extensions (CXF §"Extensions": objects
//! with a `name`), so another CXF importer can ignore it:
//! - account extension `softkey-device`: the signature counter ceiling, the
//!   keys that wrap non-discoverable credential IDs, the large-blob array;
//! - item extension `softkey-passkey`: credProtect level, largeBlobKey, RP
//!   name, the creation time as softkey recorded it.
//!
//! One deliberate deviation: CXF says passkeys with a non-zero signature
//! counter are excluded from exports and imported with counter 0. softkey's
//! counter is global and RPs have seen non-zero values, so a restore that
//! reset it would look like a cloned key. This file is a softkey backup in
//! CXF's shape: it carries the counter and `softkey import` continues above it.

use serde::{Deserialize, Serialize};

/// The CXF version this file follows.
pub const CXF_MAJOR: u8 = 1;
pub const CXF_MINOR: u8 = 0;
pub const EXPORTER_RP_ID: &str = "softkey.local";
pub const EXPORTER_DISPLAY_NAME: &str = "softkey";
pub const DEVICE_EXTENSION: &str = "softkey-device";
pub const PASSKEY_EXTENSION: &str = "softkey-passkey";
pub const HMAC_SHA256: &str = "hmac-sha256";

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Header {
    pub version: Version,
    pub exporter_rp_id: String,
    pub exporter_display_name: String,
    pub timestamp: u64,
    pub accounts: Vec<Account>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Version {
    pub major: u8,
    pub minor: u8,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub id: String,
    pub username: String,
    pub email: String,
    #[serde(default)]
    pub collections: Vec<serde_json::Value>,
    pub items: Vec<Item>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_at: Option<u64>,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtitle: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// Kept as raw JSON: an item may hold credential types softkey does not
    /// import (passwords, notes…), which are counted and skipped.
    pub credentials: Vec<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    pub urls: Vec<String>,
    #[serde(default)]
    pub android_apps: Vec<serde_json::Value>,
}

/// A CXF `passkey` credential (`"type": "passkey"`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Passkey {
    #[serde(rename = "type")]
    pub kind: String,
    pub credential_id: String,
    pub rp_id: String,
    pub username: String,
    pub user_display_name: String,
    pub user_handle: String,
    /// base64url of the PKCS#8 DER private key.
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fido2_extensions: Option<Fido2Extensions>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fido2Extensions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hmac_credentials: Option<HmacCredentials>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cred_blob: Option<String>,
    /// CXF: the credential may be used for secure payment confirmation,
    /// which is the thirdPartyPayment flag (CTAP 2.2 §12.9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payments: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct HmacCredentials {
    pub algorithm: String,
    #[serde(rename = "credWithUV")]
    pub cred_with_uv: String,
    #[serde(rename = "credWithoutUV")]
    pub cred_without_uv: String,
}

/// Account extension `softkey-device`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceExtension {
    pub name: String,
    pub sign_count: u32,
    pub wrap_keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub large_blob_array: Option<String>,
}

/// Item extension `softkey-passkey`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyExtension {
    pub name: String,
    pub cred_protect: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rp_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub large_blob_key: Option<String>,
    /// The COSE algorithm the key signs with. The PKCS#8 key names only the
    /// key type, and one RSA key could serve RS256 or PS256; absent in
    /// backups made before RSA, where the key type decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<i64>,
}
