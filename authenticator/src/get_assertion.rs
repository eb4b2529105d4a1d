//! authenticatorGetAssertion (CTAP 2.1 §6.2), steps of §6.2.2 in order.
//!
//! With an allowList, the first listed credential of ours for the RP is
//! used. Without one (username-less login), every discoverable credential of
//! the RP is a candidate, newest first: the first is returned with
//! `numberOfCredentials`, the rest are walked by getNextAssertion.
//! `up=false` is a silent probe (Chrome checks excludeList batches this
//! way): no prompt, UP flag clear, still a valid signature.

use std::collections::VecDeque;

use crate::Authenticator;
use crate::auth_data::{self, FLAG_UP};
use crate::cbor::fields::{self, Fields, optional, required};
use crate::cbor::{self, Value};
use crate::env::{Env, Operation};
use crate::get_next_assertion::AssertionState;
use crate::lookup::Found;
use crate::presence;
use crate::record;
use crate::request::{self, Options, PUBLIC_KEY, PinUvAuth};
use crate::status::CtapError;

/// A parsed getAssertion request (§6.2.1 parameters).
#[derive(Debug)]
struct Request<'a> {
    rp_id: &'a str,
    client_data_hash: [u8; 32],
    allow_list: Vec<&'a [u8]>,
    options: Options,
    pin_uv: PinUvAuth<'a>,
}

impl<'a> Request<'a> {
    fn parse(value: &'a Value) -> Result<Self, CtapError> {
        let f = Fields::of(value)?;
        let rp_id = fields::text(required(f.int(0x01))?)?;
        let client_data_hash = request::client_data_hash(required(f.int(0x02))?)?;
        let allow_list = optional(f.int(0x03), request::descriptor_ids)?.unwrap_or_default();
        // Extensions (0x04): none supported; ignored, but must be a map.
        optional(f.int(0x04), Fields::of)?;
        Ok(Request {
            rp_id,
            client_data_hash,
            allow_list,
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
    ) -> Result<Value, CtapError> {
        let value = cbor::decode(params)?;
        let req = Request::parse(&value)?;
        // Steps 1–2: zero-length pinUvAuthParam probe; protocol checks.
        req.pin_uv.check_steps_1_2(env, req.rp_id)?;
        // Step 5: options. No built-in UV; "rk" is not a getAssertion option.
        if req.options.uv == Some(true) && !req.pin_uv.is_present() {
            return Err(CtapError::InvalidOption);
        }
        if req.options.rk.is_some() {
            return Err(CtapError::UnsupportedOption);
        }
        let up = req.options.up.unwrap_or(true);
        // Step 6: no PIN is set, so no pinUvAuthParam can verify.
        req.pin_uv.check_against_no_pin()?;
        // Step 7: locate the applicable credentials.
        let rp_id_hash = auth_data::rp_id_hash(req.rp_id);
        let (first, rest, total) = if req.allow_list.is_empty() {
            let mut found: VecDeque<Found> = self.discoverable_for_rp(env, &rp_id_hash)?.into();
            let total = found.len();
            let first = found.pop_front();
            (
                first,
                found.into_iter().filter_map(|f| f.record).collect(),
                total,
            )
        } else {
            (
                self.first_ours(env, &rp_id_hash, &req.allow_list)?,
                VecDeque::new(),
                1,
            )
        };
        // Step 8 (7.6 in errata numbering): nothing found → no prompt.
        let first = first.ok_or(CtapError::NoCredentials)?;
        // Step 9: user presence, naming the account when there is just one.
        if up {
            let (name, display) = match (&first.record, total) {
                (Some(r), 1) => (r.user_name.as_deref(), r.user_display_name.as_deref()),
                _ => (None, None),
            };
            presence::require(env, Operation::SignIn, req.rp_id, name, display)?;
        }
        // Steps 11–12: sign; numberOfCredentials when there are several.
        let n = (total > 1).then_some(total);
        let response =
            self.assertion_response(env, &rp_id_hash, &first, &req.client_data_hash, up, n)?;
        if !rest.is_empty() {
            self.assertion_state = Some(AssertionState {
                rp_id_hash,
                client_data_hash: req.client_data_hash,
                user_present: up,
                remaining: rest,
                last_response: env.now(),
            });
        }
        Ok(response)
    }

    /// The RP's discoverable credentials that open, newest first.
    fn discoverable_for_rp<E: Env>(
        &mut self,
        env: &mut E,
        rp_id_hash: &[u8; 32],
    ) -> Result<Vec<Found>, CtapError> {
        let mut found = Vec::new();
        for record in record::for_rp(env.store(), rp_id_hash)? {
            if let Some(f) = self.open_record(env, rp_id_hash, record)? {
                found.push(f);
            }
        }
        Ok(found)
    }

    /// The §6.2.2 step 12 response map, signed with a fresh counter value:
    /// `{1: credential, 2: authData, 3: signature, 4: user?, 5: numberOfCredentials?}`.
    pub(crate) fn assertion_response<E: Env>(
        &mut self,
        env: &mut E,
        rp_id_hash: &[u8; 32],
        found: &Found,
        client_data_hash: &[u8; 32],
        user_present: bool,
        number_of_credentials: Option<usize>,
    ) -> Result<Value, CtapError> {
        let sign_count = self.counter.next(env.store())?;
        let flags = if user_present { FLAG_UP } else { 0 };
        let data = auth_data::auth_data(rp_id_hash, flags, sign_count);
        let signature = auth_data::sign(&found.key.signing_key(), &data, client_data_hash);
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
        if let Some(record) = &found.record {
            // The user id always; names only once the user was asked (the
            // account chooser needs them; a silent probe must not leak them).
            let mut user = vec![("id", Value::bytes(&record.user_id))];
            if user_present {
                if let Some(name) = &record.user_name {
                    user.push(("name", Value::text(name)));
                }
                if let Some(display) = &record.user_display_name {
                    user.push(("displayName", Value::text(display)));
                }
            }
            pairs.push((0x04, Value::text_map(user)));
        }
        if let Some(n) = number_of_credentials {
            pairs.push((0x05, Value::Unsigned(u64::try_from(n).unwrap_or(u64::MAX))));
        }
        Ok(Value::int_map(pairs))
    }
}
