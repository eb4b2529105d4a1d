//! authenticatorMakeCredential (CTAP 2.1 §6.1), steps of §6.1.2 in order.
//!
//! Platform probes (a throwaway makeCredential for RP `.dummy` from
//! Chrome/libfido2 or `make.me.blink` from Firefox, sent only to collect a
//! touch) are prompted as "select this key" and leave no trace: no store
//! write of any kind, not even device secrets or the counter.

use crate::Authenticator;
use crate::auth_data::{self, ES256, FLAG_AT, FLAG_UP};
use crate::cbor::Value;
use crate::cbor::fields::{self, Fields, optional, required};
use crate::credential::{self, CREDENTIAL_ID_LEN};
use crate::env::{Env, Operation};
use crate::presence;
use crate::record::{self, CredentialRecord};
use crate::request::{self, Options, PUBLIC_KEY, PinUvAuth};
use crate::status::CtapError;

/// RP ids platforms use for touch-only probes.
const PROBE_RP_IDS: [&str; 2] = [".dummy", "make.me.blink"];
/// WebAuthn §5.4.3: user handle at most 64 bytes.
const MAX_USER_ID_LEN: usize = 64;

/// A parsed makeCredential request (§6.1.1 parameters).
#[derive(Debug)]
struct Request<'a> {
    client_data_hash: [u8; 32],
    rp_id: &'a str,
    rp_name: Option<&'a str>,
    user_id: &'a [u8],
    user_name: Option<&'a str>,
    user_display_name: Option<&'a str>,
    /// Whether pubKeyCredParams offers ES256.
    es256_offered: bool,
    exclude_list: Vec<&'a [u8]>,
    options: Options,
    pin_uv: PinUvAuth<'a>,
    enterprise_attestation: Option<u64>,
}

impl<'a> Request<'a> {
    fn parse(value: &'a Value) -> Result<Self, CtapError> {
        let f = Fields::of(value)?;
        let client_data_hash = request::client_data_hash(required(f.int(0x01))?)?;
        let rp = Fields::of(required(f.int(0x02))?)?;
        let user = Fields::of(required(f.int(0x03))?)?;
        let user_id = fields::bytes(required(user.text("id"))?)?;
        if user_id.len() > MAX_USER_ID_LEN {
            return Err(CtapError::InvalidLength);
        }
        // Extensions (0x06): none supported yet; unknown ones are ignored,
        // but the parameter must still be a map.
        optional(f.int(0x06), Fields::of)?;
        Ok(Request {
            client_data_hash,
            rp_id: fields::text(required(rp.text("id"))?)?,
            rp_name: optional(rp.text("name"), fields::text)?,
            user_id,
            user_name: optional(user.text("name"), fields::text)?,
            user_display_name: optional(user.text("displayName"), fields::text)?,
            es256_offered: es256_offered(required(f.int(0x04))?)?,
            exclude_list: optional(f.int(0x05), request::descriptor_ids)?.unwrap_or_default(),
            options: Options::parse(f.int(0x07))?,
            pin_uv: PinUvAuth::parse(f.int(0x08), f.int(0x09))?,
            enterprise_attestation: optional(f.int(0x0A), fields::unsigned)?,
        })
    }

    fn is_probe(&self) -> bool {
        PROBE_RP_IDS.contains(&self.rp_id)
    }
}

/// Checks every pubKeyCredParams entry is well-formed and reports whether
/// ES256 is among them (entries of unknown type are skipped).
fn es256_offered(value: &Value) -> Result<bool, CtapError> {
    let mut offered = false;
    for entry in fields::array(value)? {
        let f = Fields::of(entry)?;
        let alg = fields::integer(required(f.text("alg"))?)?;
        let kind = fields::text(required(f.text("type"))?)?;
        offered |= kind == PUBLIC_KEY && alg == Some(ES256);
    }
    Ok(offered)
}

impl Authenticator {
    pub(crate) fn make_credential<E: Env>(
        &mut self,
        env: &mut E,
        params: &[u8],
    ) -> Result<Value, CtapError> {
        let value = crate::cbor::decode(params)?;
        let req = Request::parse(&value)?;
        // Steps 1–2: zero-length pinUvAuthParam probe; protocol checks.
        req.pin_uv.check_steps_1_2(env, req.rp_id)?;
        // Step 3: the first supported algorithm; we support ES256 only.
        if !req.es256_offered {
            return Err(CtapError::UnsupportedAlgorithm);
        }
        // Step 5: options. No built-in UV, so uv=true is invalid unless a
        // pinUvAuthParam stands in for it; up=false is always invalid.
        if req.options.uv == Some(true) && !req.pin_uv.is_present() {
            return Err(CtapError::InvalidOption);
        }
        if req.options.up == Some(false) {
            return Err(CtapError::InvalidOption);
        }
        let rk = req.options.rk.unwrap_or(false);
        // Step 9: no enterprise attestation.
        if req.enterprise_attestation.is_some() {
            return Err(CtapError::InvalidParameter);
        }
        // Step 11: no PIN is set, so no pinUvAuthParam can verify.
        req.pin_uv.check_against_no_pin()?;
        if req.is_probe() {
            presence::require(env, Operation::Select, req.rp_id, None, None)?;
            return self.probe_response(env, &req);
        }
        let rp_id_hash = auth_data::rp_id_hash(req.rp_id);
        // Step 12: an excluded credential of ours for this RP: wait for
        // presence, then "regardless of whether user presence is obtained or
        // the authenticator times out" refuse. Only a platform cancel ends
        // the wait differently, as it ends every wait (§11.2.9.1.5).
        if self
            .first_ours(env, &rp_id_hash, &req.exclude_list)?
            .is_some()
        {
            if let Err(CtapError::KeepaliveCancel) = self.ask_register(env, &req) {
                return Err(CtapError::KeepaliveCancel);
            }
            return Err(CtapError::CredentialExcluded);
        }
        // Step 14: user presence.
        self.ask_register(env, &req)?;
        // Steps 16–18: key pair, credential ID, discoverable record.
        let key = credential::generate_key(env)?;
        let credential_id = {
            let secrets = self.secrets(env)?;
            credential::wrap(env, secrets, &rp_id_hash, &key, rk)?
        };
        let sign_count = self.counter.next(env.store())?;
        if rk {
            let record = CredentialRecord {
                rp_id: req.rp_id.to_owned(),
                rp_name: req.rp_name.map(str::to_owned),
                user_id: req.user_id.to_vec(),
                user_name: req.user_name.map(str::to_owned),
                user_display_name: req.user_display_name.map(str::to_owned),
                credential_id: credential_id.clone(),
                created: env.unix_time(),
                order: u64::from(sign_count),
            };
            // Nothing is acknowledged unless this write is durable.
            record::save(env.store(), &rp_id_hash, &record)?;
        }
        // Step 19: packed self attestation.
        self.attestation(
            &rp_id_hash,
            sign_count,
            &credential_id,
            &key,
            &req.client_data_hash,
        )
    }

    fn ask_register<E: Env>(&self, env: &mut E, req: &Request<'_>) -> Result<(), CtapError> {
        presence::require(
            env,
            Operation::Register,
            req.rp_id,
            req.user_name,
            req.user_display_name,
        )
    }

    /// A valid-looking response that commits nothing: a fresh key, a random
    /// credential ID no one can use, signCount 0.
    fn probe_response<E: Env>(&self, env: &mut E, req: &Request<'_>) -> Result<Value, CtapError> {
        let key = credential::generate_key(env)?;
        let mut credential_id = vec![0u8; CREDENTIAL_ID_LEN];
        env.fill_random(&mut credential_id);
        let rp_id_hash = auth_data::rp_id_hash(req.rp_id);
        self.attestation(&rp_id_hash, 0, &credential_id, &key, &req.client_data_hash)
    }

    /// Step 19: `{1: "packed", 2: authData, 3: {alg: -7, sig}}`, the
    /// signature made with the credential's own key (WebAuthn §8.2 self
    /// attestation).
    fn attestation(
        &self,
        rp_id_hash: &[u8; 32],
        sign_count: u32,
        credential_id: &[u8],
        key: &p256::ecdsa::SigningKey,
        client_data_hash: &[u8; 32],
    ) -> Result<Value, CtapError> {
        let mut data = auth_data::auth_data(rp_id_hash, FLAG_UP | FLAG_AT, sign_count);
        auth_data::push_attested_credential(
            &mut data,
            &self.config.aaguid,
            credential_id,
            key.verifying_key(),
        )?;
        let sig = auth_data::sign(key, &data, client_data_hash);
        Ok(Value::int_map(vec![
            (0x01, Value::text("packed")),
            (0x02, Value::Bytes(data)),
            (
                0x03,
                Value::text_map(vec![("alg", Value::int(ES256)), ("sig", Value::Bytes(sig))]),
            ),
        ]))
    }
}
