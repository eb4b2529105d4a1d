//! authenticatorMakeCredential (CTAP 2.1 §6.1), steps of §6.1.2 in order.
//!
//! User verification is a pinUvAuthParam made with a pinUvAuthToken that
//! has the mc permission (softkey has no built-in UV). With a PIN set we
//! advertise makeCredUvNotRqd: non-discoverable credentials may be made
//! without UV, discoverable ones need it (step 6); alwaysUv needs it for
//! everything (step 5).
//!
//! Platform probes (a throwaway makeCredential for RP `.dummy` from
//! Chrome/libfido2 or `make.me.blink` from Firefox, sent only to collect a
//! touch) are prompted as "select this key" and leave no trace: no store
//! write of any kind, not even device secrets or the counter.

use super::request::{self, Options, PUBLIC_KEY, PinUvAuth};
use crate::Authenticator;
use crate::attestation::{self, AttestationChoice};
use crate::auth_data::{self, FLAG_AT, FLAG_UP, FLAG_UV};
use crate::cbor::Value;
use crate::cbor::fields::{self, Fields, optional, required};
use crate::credential::{self, CREDENTIAL_ID_LEN, CredentialFlags};
use crate::credential_properties::SignCounterKind;
use crate::env::{Env, Operation, PresenceRequest, Requester, UserPresence};
use crate::error::Error;
use crate::extensions::{
    self, McExtensions, cred_blob, cred_protect, large_blob_key, min_pin_length,
};
use crate::keys::{self, Algorithm, CredentialKey};
use crate::lookup;
use crate::pin::{DeviceSettings, Permission, built_in_uv};
use crate::presence;
use crate::record::{self, CredentialRecord};
use crate::status::CtapError;

/// RP ids platforms use for touch-only probes.
const PROBE_RP_IDS: [&str; 2] = [".dummy", "make.me.blink"];
/// WebAuthn §5.4.3: a user handle is 1 to 64 bytes.
const USER_ID_LEN: core::ops::RangeInclusive<usize> = 1..=64;

/// A parsed makeCredential request (§6.1.1 parameters).
#[derive(Debug)]
struct Request<'a> {
    client_data_hash: [u8; 32],
    rp_id: &'a str,
    rp_name: Option<&'a str>,
    user_id: &'a [u8],
    user_name: Option<&'a str>,
    user_display_name: Option<&'a str>,
    /// The `alg` of every "public-key" pubKeyCredParams entry, in order.
    algorithms: Vec<i64>,
    exclude_list: Vec<&'a [u8]>,
    extensions: McExtensions<'a>,
    options: Options,
    pin_uv: PinUvAuth<'a>,
    enterprise_attestation: Option<u64>,
    /// attestationFormatsPreference (CTAP 2.2, 0x0B).
    attestation_formats: Option<Vec<String>>,
}

impl<'a> Request<'a> {
    fn parse(value: &'a Value) -> Result<Self, CtapError> {
        let f = Fields::of(value)?;
        let client_data_hash = request::client_data_hash(required(f.int(0x01))?)?;
        let rp = Fields::of(required(f.int(0x02))?)?;
        let user = Fields::of(required(f.int(0x03))?)?;
        let user_id = fields::bytes(required(user.text("id"))?)?;
        // An empty user handle is no handle: a passkey made with one could
        // never name its account in a username-less sign-in (§6.2.2 step
        // 12 returns the user id), and WebAuthn clients refuse to send one.
        // Refuse it here, like an overlong one, rather than store it.
        if !USER_ID_LEN.contains(&user_id.len()) {
            return Err(CtapError::InvalidLength);
        }
        Ok(Request {
            client_data_hash,
            rp_id: fields::text(required(rp.text("id"))?)?,
            rp_name: optional(rp.text("name"), fields::text)?,
            user_id,
            user_name: optional(user.text("name"), fields::text)?,
            user_display_name: optional(user.text("displayName"), fields::text)?,
            algorithms: algorithms(required(f.int(0x04))?)?,
            exclude_list: optional(f.int(0x05), request::descriptor_ids)?.unwrap_or_default(),
            extensions: McExtensions::parse(f.int(0x06))?,
            options: Options::parse(f.int(0x07))?,
            pin_uv: PinUvAuth::parse(f.int(0x08), f.int(0x09))?,
            enterprise_attestation: optional(f.int(0x0A), fields::unsigned)?,
            attestation_formats: optional(f.int(0x0B), text_list)?,
        })
    }

    fn is_probe(&self) -> bool {
        PROBE_RP_IDS.contains(&self.rp_id)
    }
}

/// Checks every pubKeyCredParams entry is well-formed and returns the
/// algorithms of the "public-key" ones (entries of unknown type skipped).
fn algorithms(value: &Value) -> Result<Vec<i64>, CtapError> {
    let mut algs = Vec::new();
    for entry in fields::array(value)? {
        let f = Fields::of(entry)?;
        let alg = fields::integer(required(f.text("alg"))?)?;
        let kind = fields::text(required(f.text("type"))?)?;
        if let (PUBLIC_KEY, Some(alg)) = (kind, alg) {
            algs.push(alg);
        }
    }
    Ok(algs)
}

fn text_list(value: &Value) -> Result<Vec<String>, CtapError> {
    fields::array(value)?
        .iter()
        .map(|v| fields::text(v).map(str::to_owned))
        .collect()
}

impl Authenticator {
    pub(crate) fn make_credential<E: Env>(
        &mut self,
        env: &mut E,
        params: &[u8],
    ) -> Result<Value, Error> {
        let value = crate::cbor::decode(params)?;
        let mut req = Request::parse(&value)?;
        // Extensions this key lacks are ignored like unknown ones.
        req.extensions =
            std::mem::take(&mut req.extensions).restricted_to(|e| self.has_extension(e));
        let pin_set = self.pin_is_set(env)?;
        // Steps 1–2: zero-length pinUvAuthParam probe; protocol checks.
        let protected = pin_set || self.config.built_in_uv;
        req.pin_uv.check_steps_1_2(env, req.rp_id, protected)?;
        // Step 3: the first algorithm of the request that the key has enabled.
        let alg = keys::choose(&req.algorithms, &self.config.algorithms)
            .ok_or(CtapError::UnsupportedAlgorithm)?;
        // Step 4: options. up=false is invalid for makeCredential. With a
        // pinUvAuthParam the "uv" option is ignored; without one, uv=true
        // needs built-in UV (a test-lab key's `hasUserVerification`).
        if req.options.up == Some(false) {
            return Err(CtapError::InvalidOption.into());
        }
        let built_in_uv = self.config.built_in_uv;
        let mut uv_option = req.options.uv == Some(true) && !req.pin_uv.is_present();
        if uv_option && !built_in_uv {
            return Err(CtapError::InvalidOption.into());
        }
        let rk = req.options.rk.unwrap_or(false);
        // A key without discoverable credentials (a test-lab key's
        // `hasResidentKey: false`): "rk" true is an option it lacks.
        if rk && !self.config.resident_keys {
            return Err(CtapError::UnsupportedOption.into());
        }
        let config = DeviceSettings::load(env.store())?;
        if !req.pin_uv.is_present() {
            // Step 5: alwaysUv: a key with built-in UV verifies the user
            // itself; otherwise everything needs a pinUvAuthParam.
            // Step 6: makeCredUvNotRqd: on a key protected by a PIN or
            // built-in UV, only discoverable credentials need verification.
            uv_option |= config.always_uv && built_in_uv;
            if !uv_option && (config.always_uv || ((pin_set || built_in_uv) && rk)) {
                return Err(CtapError::PuatRequired.into());
            }
        }
        // Steps 7–10: enterprise attestation and the attestation format,
        // decided before the user is asked so their errors come first.
        let choice = attestation::choose_for_request(
            env,
            req.attestation_formats.as_deref(),
            req.enterprise_attestation,
            config.enterprise_attestation,
            req.rp_id,
        )?;
        // Step 11.1: verify the pinUvAuthParam (mc permission, RP binding).
        let token_uv = self.verify_request_pin_uv(
            env,
            &req.pin_uv,
            &req.client_data_hash,
            Permission::MakeCredential,
            req.rp_id,
        )?;
        // Step 11.2: built-in UV; its gesture is the evidence of user
        // interaction that step 13 takes as presence.
        let built_in_verified = uv_option && {
            let request = self.register_request(&req);
            match built_in_uv::perform(env, &request)? {
                Ok(()) => true,
                Err(failure) => return Err(failure.request_status(pin_set).into()),
            }
        };
        let uv = token_uv || built_in_verified;
        if req.is_probe() {
            presence::require(env, Operation::Select, Requester::Rp(req.rp_id), None, None)?;
            return self.probe_response(env, &req, alg);
        }
        let rp_id_hash = auth_data::rp_id_hash(req.rp_id);
        // Step 12: an excluded credential of ours for this RP (a credProtect
        // level-3 one only counts with UV: without, it is invisible): wait
        // for presence, then "regardless of whether user presence is
        // obtained or the authenticator times out" refuse. Only a platform
        // cancel ends the wait differently, as it ends every wait
        // (§11.2.9.1.5).
        let keyring = self.secrets.keyring(env)?;
        if lookup::first_visible(&keyring, env.store(), &rp_id_hash, &req.exclude_list, uv)?
            .is_some()
        {
            if built_in_verified {
                return Err(CtapError::CredentialExcluded.into());
            }
            if let Err(CtapError::KeepaliveCancel) = self.ask_register(env, &req) {
                return Err(CtapError::KeepaliveCancel.into());
            }
            return Err(CtapError::CredentialExcluded.into());
        }
        // Step 17's KEY_STORE_FULL, checked before the prompt so the user is
        // not asked to touch for nothing.
        if rk
            && record::remaining(env.store(), self.config.max_discoverable_credentials)? == 0
            && record::needs_slot(env.store(), &rp_id_hash, req.user_id)?
        {
            return Err(CtapError::KeyStoreFull.into());
        }
        // hmac-secret-mc inputs are checked before the prompt too.
        let hmac_secret_mc = match (&req.extensions.hmac_secret_mc, req.extensions.hmac_secret) {
            (Some(input), true) => Some(input.open(&mut self.pin, env)?),
            _ => None,
        };
        // Step 13: built-in UV already saw the user, as did a token made
        // by it (step 14.1); otherwise step 14: user presence. A verified
        // token's mc use is consumed.
        let user_seen = built_in_verified || (token_uv && self.pin_token_user_present());
        if !user_seen {
            self.ask_register(env, &req)?;
        }
        if token_uv {
            self.consume_pin_token_for_mc_ga();
        }
        // Steps 16–18: key pair, credential ID, discoverable record.
        let level = match req.extensions.cred_protect {
            Some(level) => level,
            None => cred_protect::default_level(rk, self.pin_is_set(env)?),
        };
        let key = CredentialKey::generate(env, alg)?;
        let credential_id = {
            let secrets = self.secrets.get_or_create(env)?;
            // CTAP 2.2 §12.9: the thirdPartyPayment input is kept with the
            // credential (and has no makeCredential output).
            let flags = CredentialFlags {
                discoverable: rk,
                cred_protect: level,
                third_party_payment: req.extensions.third_party_payment,
            };
            credential::wrap(env, secrets.wrap_key(), &rp_id_hash, &key, flags)?
        };
        // Step 13 (extensions), outputs in authData.
        let mut outputs = Vec::new();
        if req.extensions.cred_protect.is_some() {
            outputs.push((extensions::CRED_PROTECT, Value::Unsigned(u64::from(level))));
        }
        if req.extensions.hmac_secret {
            outputs.push((extensions::HMAC_SECRET, Value::Bool(true)));
        }
        if let Some(opened) = &hmac_secret_mc {
            let cred_random = credential::cred_random(&key, uv)?;
            outputs.push((
                extensions::HMAC_SECRET_MC,
                opened.output(env, &cred_random)?,
            ));
        }
        let mut stored_blob = None;
        if let Some(input) = req.extensions.cred_blob {
            let (blob, output) = cred_blob::make_credential(input, rk);
            stored_blob = blob;
            outputs.push((extensions::CRED_BLOB, output));
        }
        if let Some(n) = min_pin_length::output(req.extensions.min_pin_length, req.rp_id, &config) {
            outputs.push((extensions::MIN_PIN_LENGTH, n));
        }
        let large_blob_key =
            (rk && req.extensions.large_blob_key).then(|| large_blob_key::generate(env));
        // The global counter orders the credentials (the record's creation
        // order) whatever this credential counts with.
        let order = self.counter.next(env.store())?;
        let properties = self.new_credential_properties(rk);
        let sign_count = match properties.counter {
            SignCounterKind::Global => order,
            SignCounterKind::Own(n) => n,
            SignCounterKind::Never => 0,
        };
        if rk {
            let record = CredentialRecord {
                rp_id: req.rp_id.to_owned(),
                rp_name: req.rp_name.map(str::to_owned),
                user_id: req.user_id.to_vec(),
                user_name: req.user_name.map(str::to_owned),
                user_display_name: req.user_display_name.map(str::to_owned),
                credential_id: credential_id.clone(),
                created: env.unix_time(),
                order: u64::from(order),
                cred_protect: level,
                cred_blob: stored_blob,
                large_blob_key,
                private_key: None,
                cred_randoms: None,
                third_party_payment: req.extensions.third_party_payment,
                properties,
            };
            // Nothing is acknowledged unless this write is durable.
            record::save(env.store(), &rp_id_hash, &record)?;
        }
        // Step 19: authData and the attestation statement.
        let flags = self
            .overrides
            .flags(FLAG_UP | FLAG_AT | if uv { FLAG_UV } else { 0 } | properties.flags());
        let mut data = auth_data::auth_data(&rp_id_hash, flags, sign_count);
        // WebAuthn §8.6 step 6: a fido-u2f attestation's AAGUID is all zeros.
        let aaguid = match choice {
            AttestationChoice::FidoU2f if key.algorithm() == Algorithm::Es256 => [0; 16],
            _ => self.config.aaguid,
        };
        auth_data::push_attested_credential(&mut data, &aaguid, &credential_id, &key)?;
        extensions::append_outputs(&mut data, outputs);
        let overrides = self.overrides;
        let mut response = attestation_object(env, choice, &key, data, &req.client_data_hash)?;
        if let Value::Map(pairs) = &mut response {
            for (k, v) in pairs.iter_mut() {
                if *k == Value::Unsigned(0x03) {
                    *v = overrides.attestation_statement(std::mem::replace(v, Value::Null));
                }
            }
        }
        if let (Value::Map(pairs), Some(k)) = (&mut response, large_blob_key) {
            pairs.push((
                Value::Unsigned(large_blob_key::MC_RESPONSE_KEY),
                Value::bytes(&k),
            ));
        }
        Ok(response)
    }

    fn ask_register<E: Env>(&self, env: &mut E, req: &Request<'_>) -> Result<(), CtapError> {
        env.presence()
            .check(&self.register_request(req))
            .map_err(CtapError::from)
    }

    /// What the prompt of a registration names: the RP id and the user.
    fn register_request<'r>(&self, req: &Request<'r>) -> PresenceRequest<'r> {
        PresenceRequest {
            operation: Operation::Register,
            requester: Requester::Rp(req.rp_id),
            user_name: req.user_name,
            user_display_name: req.user_display_name,
        }
    }

    /// A valid-looking response that commits nothing: a fresh key, a random
    /// credential ID no one can use, signCount 0, self attestation.
    fn probe_response<E: Env>(
        &self,
        env: &mut E,
        req: &Request<'_>,
        alg: keys::Algorithm,
    ) -> Result<Value, Error> {
        let key = CredentialKey::generate(env, alg)?;
        let mut credential_id = vec![0u8; CREDENTIAL_ID_LEN];
        env.fill_random(&mut credential_id);
        let rp_id_hash = auth_data::rp_id_hash(req.rp_id);
        let mut data = auth_data::auth_data(&rp_id_hash, FLAG_UP | FLAG_AT, 0);
        auth_data::push_attested_credential(&mut data, &self.config.aaguid, &credential_id, &key)?;
        attestation_object(
            env,
            AttestationChoice::SelfPacked,
            &key,
            data,
            &req.client_data_hash,
        )
    }
}

/// Step 19: `{1: fmt, 2: authData, 3: attStmt, 4: epAtt?}`.
fn attestation_object<E: Env>(
    env: &mut E,
    choice: AttestationChoice,
    key: &CredentialKey,
    data: Vec<u8>,
    client_data_hash: &[u8; 32],
) -> Result<Value, Error> {
    let (fmt, att_stmt) = attestation::statement(env, choice, key, &data, client_data_hash)?;
    let mut pairs = vec![
        (0x01, Value::Text(fmt)),
        (0x02, Value::Bytes(data)),
        (0x03, att_stmt),
    ];
    if choice.ep_att() {
        pairs.push((0x04, Value::Bool(true)));
    }
    Ok(Value::int_map(pairs))
}

#[cfg(test)]
mod tests {
    use crate::cbor::{self, Value};
    use crate::env::Store;
    use crate::testing::{PinClient, TestEnv};
    use crate::{Authenticator, Config};

    fn mc(rp: &str, user: &[u8], rk: bool) -> Vec<u8> {
        let mut pairs = vec![
            (1, Value::bytes(&[1; 32])),
            (2, Value::text_map(vec![("id", Value::text(rp))])),
            (3, Value::text_map(vec![("id", Value::bytes(user))])),
            (
                4,
                Value::Array(vec![Value::text_map(vec![
                    ("alg", Value::int(-7)),
                    ("type", Value::text("public-key")),
                ])]),
            ),
        ];
        if rk {
            pairs.push((7, Value::text_map(vec![("rk", Value::Bool(true))])));
        }
        [vec![0x01], cbor::encode(&Value::int_map(pairs))].concat()
    }

    fn ga(rp: &str, up: bool) -> Vec<u8> {
        let pairs = vec![
            (1, Value::text(rp)),
            (2, Value::bytes(&[1; 32])),
            (5, Value::text_map(vec![("up", Value::Bool(up))])),
        ];
        [vec![0x02], cbor::encode(&Value::int_map(pairs))].concat()
    }

    #[test]
    fn always_uv_requires_a_pin_uv_auth_param() {
        // §6.1.2 step 5 / §6.2.2 step 5.
        let mut env = TestEnv::new(3);
        let mut a = Authenticator::new(Config::default());
        a.power_up(&mut env);
        assert_eq!(a.process_cbor(&mut env, &mc("rp", b"u", true))[0], 0x00);
        a.toggle_always_uv(&mut env).unwrap();
        // Even without a PIN: the platform must set one first.
        assert_eq!(a.process_cbor(&mut env, &mc("rp", b"v", false)), [0x36]);
        assert_eq!(a.process_cbor(&mut env, &ga("rp", true)), [0x36]);
        // A silent request is still allowed.
        assert_eq!(a.process_cbor(&mut env, &ga("rp", false))[0], 0x00);
        // With a token it works.
        let c = PinClient::new(2);
        c.set_pin(&mut a, &mut env, "1234").unwrap();
        let t = c
            .get_token(&mut a, &mut env, "1234", Some(1), Some("rp"))
            .unwrap();
        let mut req = cbor::decode(&mc("rp", b"v", false)[1..]).unwrap();
        if let Value::Map(pairs) = &mut req {
            pairs.push((Value::Unsigned(8), Value::Bytes(c.auth_param(&t, &[1; 32]))));
            pairs.push((Value::Unsigned(9), Value::Unsigned(2)));
        }
        let out = a.process_cbor(&mut env, &[vec![0x01], cbor::encode(&req)].concat());
        assert_eq!(out[0], 0x00);
    }

    #[test]
    fn a_full_store_refuses_new_discoverable_credentials() {
        // §6.1.2 step 17 KEY_STORE_FULL, before any prompt.
        let mut env = TestEnv::new(3);
        let mut a = Authenticator::new(Config {
            max_discoverable_credentials: 50,
            ..Config::default()
        });
        a.power_up(&mut env);
        assert_eq!(a.process_cbor(&mut env, &mc("rp", b"u", true))[0], 0x00);
        for i in 1..50u64 {
            let key = [b"cred/".as_slice(), &i.to_be_bytes()].concat();
            env.store.put(&key, b"\xA0").unwrap();
        }
        env.presence.clear_log();
        assert_eq!(a.process_cbor(&mut env, &mc("rp", b"v", true)), [0x28]);
        assert!(env.presence.log().is_empty());
        // Replacing the same user's credential needs no new slot.
        assert_eq!(a.process_cbor(&mut env, &mc("rp", b"u", true))[0], 0x00);
        // Non-discoverable credentials need none either.
        assert_eq!(a.process_cbor(&mut env, &mc("rp", b"v", false))[0], 0x00);
    }
}
