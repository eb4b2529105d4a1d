//! authenticatorGetAssertion (CTAP 2.1 §6.2), steps of §6.2.2 in order.
//!
//! With an allowList, the first listed credential of ours for the RP that
//! credProtect lets this request see is used. Without one (username-less
//! login), every discoverable credential of the RP that is visible
//! (credProtect level 1, or any level with UV) is a candidate, newest
//! first: the first is returned with `numberOfCredentials`, the rest are
//! walked by getNextAssertion. `up=false` is a silent probe (Chrome checks
//! excludeList batches this way): no prompt, UP flag clear, still a valid
//! signature.
//!
//! User entities (§6.2.2 step 12.3): the user id always, the name and
//! displayName only when this request verified the user — with one account
//! or several, with or without a PIN set (SECURITY.md "Accounts without
//! user verification"). A credential stored with an empty user id (made
//! before makeCredential refused them, or restored from a backup) gets no
//! user member at all: an empty id is not a user handle.

use super::request::{self, Options, PUBLIC_KEY, PinUvAuth};
use crate::Authenticator;
use crate::auth_data::{self, FLAG_UP, FLAG_UV};
use crate::cbor::fields::{self, Fields, optional, required};
use crate::cbor::{self, Value};
use crate::credential_index::{Family, NewestFirst};
use crate::credential_properties::SignCounterKind;
use crate::env::{Env, Operation, PresenceRequest, Requester};
use crate::error::Error;
use crate::extensions::{self, AssertionExtensions, GaExtensions, cred_blob, large_blob_key};
use crate::lookup::{self, Found};
use crate::pin::{DeviceSettings, Permission, built_in_uv};
use crate::presence;
use crate::state::{AssertionState, UserFlags};
use crate::status::CtapError;

/// A parsed getAssertion request (§6.2.1 parameters).
#[derive(Debug)]
struct Request<'a> {
    rp_id: &'a str,
    client_data_hash: [u8; 32],
    allow_list: Vec<&'a [u8]>,
    extensions: GaExtensions<'a>,
    options: Options,
    pin_uv: PinUvAuth<'a>,
}

impl<'a> Request<'a> {
    fn parse(value: &'a Value) -> Result<Self, CtapError> {
        let f = Fields::of(value)?;
        let rp_id = fields::text(required(f.int(0x01))?)?;
        let client_data_hash = request::client_data_hash(required(f.int(0x02))?)?;
        let allow_list = optional(f.int(0x03), request::descriptor_ids)?.unwrap_or_default();
        Ok(Request {
            rp_id,
            client_data_hash,
            allow_list,
            extensions: GaExtensions::parse(f.int(0x04))?,
            options: Options::parse(f.int(0x05))?,
            pin_uv: PinUvAuth::parse(f.int(0x06), f.int(0x07))?,
        })
    }
}

impl Authenticator {
    pub(crate) fn get_assertion<E: Env>(
        &mut self,
        env: &mut E,
        params: &[u8],
    ) -> Result<Value, Error> {
        let value = cbor::decode(params)?;
        let mut req = Request::parse(&value)?;
        // Extensions this key lacks are ignored like unknown ones.
        req.extensions =
            std::mem::take(&mut req.extensions).restricted_to(|e| self.has_extension(e));
        let pin_set = self.pin_is_set(env)?;
        // Steps 1–2: zero-length pinUvAuthParam probe; protocol checks.
        let protected = pin_set || self.config.built_in_uv;
        req.pin_uv.check_steps_1_2(env, req.rp_id, protected)?;
        // Step 4: options. "rk" is not a getAssertion option; uv=true
        // without a pinUvAuthParam needs built-in UV.
        if req.options.rk.is_some() {
            return Err(CtapError::UnsupportedOption.into());
        }
        let built_in_uv = self.config.built_in_uv;
        let mut uv_option = req.options.uv == Some(true) && !req.pin_uv.is_present();
        if uv_option && !built_in_uv {
            return Err(CtapError::InvalidOption.into());
        }
        let up = req.options.up.unwrap_or(true);
        // Step 5: alwaysUv: a key with built-in UV verifies the user itself;
        // otherwise a pinUvAuthParam is needed unless this is a silent
        // (up=false) request.
        if up && !req.pin_uv.is_present() && DeviceSettings::load(env.store())?.always_uv {
            if !built_in_uv {
                return Err(CtapError::PuatRequired.into());
            }
            uv_option = true;
        }
        // hmac-secret needs presence (it unlocks secrets, like a login).
        if req.extensions.hmac_secret.is_some() && !up {
            return Err(CtapError::UnsupportedOption.into());
        }
        // Step 6.1: verify the pinUvAuthParam (ga permission, RP binding).
        let token_uv = self.verify_request_pin_uv(
            env,
            &req.pin_uv,
            &req.client_data_hash,
            Permission::GetAssertion,
            req.rp_id,
        )?;
        // Step 6.2: built-in UV, before the credentials are looked for (as
        // a fingerprint key asks for the finger first); its gesture is the
        // evidence of user interaction step 9 takes as presence.
        let built_in_verified = uv_option && {
            let request = PresenceRequest {
                operation: Operation::SignIn,
                requester: Requester::Rp(req.rp_id),
                user_name: None,
                user_display_name: None,
            };
            match built_in_uv::perform(env, &request)? {
                Ok(()) => true,
                Err(failure) => return Err(failure.request_status(pin_set).into()),
            }
        };
        let uv = token_uv || built_in_verified;
        // Step 7: locate the applicable credentials, credProtect applied.
        let rp_id_hash = auth_data::rp_id_hash(req.rp_id);
        let (first, walk, total) = if req.allow_list.is_empty() {
            let (mut walk, total) =
                NewestFirst::start(env.store(), &rp_id_hash, Family::for_request(uv))?;
            let first = self.next_discoverable(env, &rp_id_hash, &mut walk)?;
            (first, Some(walk), total)
        } else {
            let first = lookup::first_visible(
                &self.secrets.keyring(env)?,
                env.store(),
                &rp_id_hash,
                &req.allow_list,
                uv,
            )?;
            (first, None, 1)
        };
        // Step 8: nothing found → no prompt.
        let first = first.ok_or(CtapError::NoCredentials)?;
        // Extension inputs are checked before the prompt.
        let extensions = AssertionExtensions {
            hmac_secret: match &req.extensions.hmac_secret {
                Some(input) => Some(input.open(&mut self.pin, env)?),
                None => None,
            },
            // Not with up=false: a silent request (no prompt, any local
            // process) must not read a credential's secrets. credBlob may
            // hold one, and largeBlobKey decrypts the credential's large
            // blob, which largeBlobs get hands out without auth (§6.10.2).
            // hmac-secret is refused outright below for the same reason.
            cred_blob: req.extensions.cred_blob && up,
            large_blob_key: req.extensions.large_blob_key && up,
            third_party_payment: req.extensions.third_party_payment,
        };
        // Step 9: user presence, naming the account when there is just
        // one; then the token's mc/ga use is consumed.
        // Step 9: built-in UV already saw the user, as did a token made by
        // it; otherwise ask, naming the account when there is just one.
        let user_seen = built_in_verified || (token_uv && self.pin_token_user_present());
        if up && !user_seen {
            let (name, display) = match (&first.record, total) {
                (Some(r), 1) => (r.user_name.as_deref(), r.user_display_name.as_deref()),
                _ => (None, None),
            };
            presence::require(
                env,
                Operation::SignIn,
                Requester::Rp(req.rp_id),
                name,
                display,
            )?;
        }
        if up && token_uv {
            self.consume_pin_token_for_mc_ga();
        }
        let user = UserFlags {
            present: up,
            verified: uv,
            // Step 12.3: "MUST NOT be returned if user verification is not
            // done by the authenticator".
            show_names: uv,
        };
        // Steps 10–12: extensions, signature, numberOfCredentials.
        let n = (total > 1).then_some(total);
        let response = self.assertion_response(
            env,
            &rp_id_hash,
            &first,
            &req.client_data_hash,
            user,
            &extensions,
            n,
        )?;
        if let Some(walk) = walk.filter(|_| total > 1) {
            self.assertion_state = Some(AssertionState {
                rp_id_hash,
                client_data_hash: req.client_data_hash,
                user,
                extensions,
                walk,
                left: total - 1,
                last_response: env.now(),
            });
        }
        Ok(response)
    }

    /// The walk's next credential that opens (the family already applied
    /// credProtect, §12.1); `None` when the walk ends.
    fn next_discoverable<E: Env>(
        &mut self,
        env: &mut E,
        rp_id_hash: &[u8; 32],
        walk: &mut NewestFirst,
    ) -> Result<Option<Found>, Error> {
        while let Some(record) = walk.next(env.store())? {
            let keyring = self.secrets.keyring(env)?;
            if let Some(found) = lookup::open_record(&keyring, rp_id_hash, record) {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The §6.2.2 step 12 response map, signed with a fresh counter value:
    /// `{1: credential, 2: authData, 3: signature, 4: user?,
    /// 5: numberOfCredentials?, 7: largeBlobKey?}`.
    #[allow(clippy::too_many_arguments)] // one response, every input of it
    pub(crate) fn assertion_response<E: Env>(
        &mut self,
        env: &mut E,
        rp_id_hash: &[u8; 32],
        found: &Found,
        client_data_hash: &[u8; 32],
        user: UserFlags,
        extensions: &AssertionExtensions,
        number_of_credentials: Option<usize>,
    ) -> Result<Value, Error> {
        let mut outputs = Vec::new();
        if let Some(opened) = &extensions.hmac_secret {
            let cred_random = found.cred_random(user.verified)?;
            outputs.push((extensions::HMAC_SECRET, opened.output(env, &cred_random)?));
        }
        if extensions.cred_blob {
            let stored = found.record.as_ref().and_then(|r| r.cred_blob.as_deref());
            outputs.push((extensions::CRED_BLOB, cred_blob::get_assertion(stored)));
        }
        // CTAP 2.2 §12.9: asked for, the output is the credential's flag,
        // true or false.
        if extensions.third_party_payment {
            outputs.push((
                extensions::THIRD_PARTY_PAYMENT,
                Value::Bool(found.key.flags.third_party_payment),
            ));
        }
        let properties = match &found.record {
            Some(record) => record.properties,
            None => self.new_credential_properties(false),
        };
        let sign_count = match properties.counter {
            SignCounterKind::Global => self.counter.next(env.store())?,
            SignCounterKind::Own(last) => {
                // Its own counter, kept in its record before the answer.
                let next = last.checked_add(1).ok_or(CtapError::Other)?;
                if let Some(record) = &found.record {
                    let mut counted = record.clone();
                    counted.properties.counter = SignCounterKind::Own(next);
                    if found.key.flags.discoverable {
                        crate::record::put_in_place(env.store(), rp_id_hash, &counted)?;
                    } else {
                        crate::record::put_non_discoverable(env.store(), rp_id_hash, &counted)?;
                    }
                }
                next
            }
            SignCounterKind::Never => 0,
        };
        let flags = self.overrides.flags(
            if user.present { FLAG_UP } else { 0 }
                | if user.verified { FLAG_UV } else { 0 }
                | properties.flags(),
        );
        let mut data = auth_data::auth_data(rp_id_hash, flags, sign_count);
        extensions::append_outputs(&mut data, outputs);
        let signature =
            self.overrides
                .signature(auth_data::sign(&found.key.key, &data, client_data_hash));
        let mut pairs = vec![
            (
                0x01,
                Value::text_map(vec![
                    ("id", Value::bytes(&found.credential_id)),
                    ("type", Value::text(PUBLIC_KEY)),
                ]),
            ),
            (0x02, Value::Bytes(data)),
            (0x03, Value::Bytes(signature)),
        ];
        // A non-discoverable credential returns no user (§6.2.2 step 12:
        // the user is a discoverable credential's).
        if let Some(record) = found
            .record
            .as_ref()
            .filter(|r| found.key.flags.discoverable && !r.user_id.is_empty())
        {
            // The user id always; names only as the module docs say.
            let mut entity = vec![("id", Value::bytes(&record.user_id))];
            if user.show_names {
                if let Some(name) = &record.user_name {
                    entity.push(("name", Value::text(name)));
                }
                if let Some(display) = &record.user_display_name {
                    entity.push(("displayName", Value::text(display)));
                }
            }
            pairs.push((0x04, Value::text_map(entity)));
        }
        if let Some(n) = number_of_credentials {
            pairs.push((0x05, Value::Unsigned(u64::try_from(n).unwrap_or(u64::MAX))));
        }
        if extensions.large_blob_key
            && let Some(key) = found.record.as_ref().and_then(|r| r.large_blob_key)
        {
            pairs.push((large_blob_key::GA_RESPONSE_KEY, Value::bytes(&key)));
        }
        Ok(Value::int_map(pairs))
    }
}
