//! authenticatorCredentialManagement (CTAP 2.1 §6.8; also answered under
//! the 2.1-PRE prototype command byte 0x41, §6.13): list, delete and rename
//! discoverable credentials with a `cm` pinUvAuthToken.
//!
//! Every subcommand but the two "next" ones is authorised by a
//! pinUvAuthParam over `uint8(subCommand) || subCommandParams`, where
//! subCommandParams are the bytes as received (see
//! [`super::credential_management::raw_sub_command_params`]). A token bound to an RP
//! (permissions RP ID) may only touch that RP's credentials and may not
//! count or list RPs; an unbound token is never bound by these commands.
//!
//! The enumerations keep RAM state ([`crate::cred_mgmt::Enumeration`]) that
//! only the matching "next" subcommand may continue: any other command or
//! subcommand, a power-up, or 30 s without a response ends it, and a "next"
//! without live state is NOT_ALLOWED (§6.8.3, §6.8.4).

mod store;
mod sub_command_params;

pub(crate) use sub_command_params::raw_sub_command_params;

use std::collections::VecDeque;

use super::request::PUBLIC_KEY;
use crate::Authenticator;
use crate::auth_data::rp_id_hash;
use crate::cbor::fields::{self, Fields, optional, required};
use crate::cbor::{self, Value};
use crate::env::Env;
use crate::error::Error;
use crate::lookup;
use crate::pin::{Permission, PinProtocol, persistent};
use crate::record::CredentialRecord;
use crate::state::Enumeration;
use crate::status::CtapError;

/// §6.8 subCommand values.
mod sub {
    pub(super) const GET_CREDS_METADATA: u64 = 0x01;
    pub(super) const ENUMERATE_RPS_BEGIN: u64 = 0x02;
    pub(super) const ENUMERATE_RPS_GET_NEXT_RP: u64 = 0x03;
    pub(super) const ENUMERATE_CREDENTIALS_BEGIN: u64 = 0x04;
    pub(super) const ENUMERATE_CREDENTIALS_GET_NEXT_CREDENTIAL: u64 = 0x05;
    pub(super) const DELETE_CREDENTIAL: u64 = 0x06;
    pub(super) const UPDATE_USER_INFORMATION: u64 = 0x07;
}

/// The request (§6.8 parameters).
#[derive(Debug)]
struct Request<'a> {
    sub_command: u64,
    params: Option<&'a Value>,
    protocol: Option<u64>,
    param: Option<&'a [u8]>,
}

/// subCommandParams members (§6.8 "subCommandParams fields").
#[derive(Debug, Default)]
struct Params<'a> {
    rp_id_hash: Option<[u8; 32]>,
    /// The credentialID descriptor's id; `None` inside for a descriptor of
    /// a type other than "public-key" (names no credential of ours).
    credential_id: Option<Option<&'a [u8]>>,
    user: Option<User<'a>>,
}

/// A PublicKeyCredentialUserEntity (updateUserInformation).
#[derive(Debug, PartialEq, Eq)]
struct User<'a> {
    id: &'a [u8],
    name: Option<&'a str>,
    display_name: Option<&'a str>,
}

impl<'a> Request<'a> {
    fn parse(value: &'a Value) -> Result<Self, CtapError> {
        let f = Fields::of(value)?;
        let params = f.int(0x02);
        if let Some(p) = params {
            Fields::of(p)?;
        }
        Ok(Request {
            sub_command: fields::unsigned(required(f.int(0x01))?)?,
            params,
            protocol: optional(f.int(0x03), fields::unsigned)?,
            param: optional(f.int(0x04), fields::bytes)?,
        })
    }

    fn params(&self) -> Result<Params<'a>, CtapError> {
        let Some(params) = self.params else {
            return Ok(Params::default());
        };
        let f = Fields::of(params)?;
        let rp_id_hash = optional(f.int(0x01), |v| {
            fields::bytes(v)?
                .try_into()
                .map_err(|_| CtapError::InvalidLength)
        })?;
        let credential_id = optional(f.int(0x02), |v| {
            let d = Fields::of(v)?;
            let kind = fields::text(required(d.text("type"))?)?;
            let id = fields::bytes(required(d.text("id"))?)?;
            optional(d.text("transports"), fields::array)?;
            Ok((kind == PUBLIC_KEY).then_some(id))
        })?;
        let user = optional(f.int(0x03), |v| {
            let u = Fields::of(v)?;
            Ok(User {
                id: fields::bytes(required(u.text("id"))?)?,
                name: optional(u.text("name"), fields::text)?,
                display_name: optional(u.text("displayName"), fields::text)?,
            })
        })?;
        Ok(Params {
            rp_id_hash,
            credential_id,
            user,
        })
    }
}

impl Authenticator {
    pub(crate) fn credential_management<E: Env>(
        &mut self,
        env: &mut E,
        params: &[u8],
    ) -> Result<Option<Value>, Error> {
        // Whatever happens below, only the matching "next" keeps the state;
        // one past its 30 s timer is as good as none (NOT_ALLOWED).
        let now = env.now();
        let enumeration = self
            .management
            .enumeration
            .take()
            .filter(|e| !e.expired(now));
        let value = cbor::decode(params)?;
        let req = Request::parse(&value)?;
        let sub_params = req.params()?;
        match req.sub_command {
            sub::GET_CREDS_METADATA => {
                self.authorize_read_unbound(env, &req)?;
                self.creds_metadata(env).map(Some)
            }
            sub::ENUMERATE_RPS_BEGIN => {
                self.authorize_read_unbound(env, &req)?;
                self.enumerate_rps_begin(env).map(Some)
            }
            sub::ENUMERATE_RPS_GET_NEXT_RP => Ok(Some(self.enumerate_rps_next(env, enumeration)?)),
            sub::ENUMERATE_CREDENTIALS_BEGIN => {
                let bound = self.authorize_read(env, &req)?;
                let hash = sub_params.rp_id_hash.ok_or(CtapError::MissingParameter)?;
                // §6.8.4 step 4: a token bound to another RP may not list
                // this one (PIN_AUTH_INVALID).
                if bound.is_some_and(|rp| rp_id_hash(&rp) != hash) {
                    return Err(CtapError::PinAuthInvalid.into());
                }
                self.enumerate_credentials_begin(env, hash).map(Some)
            }
            sub::ENUMERATE_CREDENTIALS_GET_NEXT_CREDENTIAL => {
                self.enumerate_credentials_next(env, enumeration).map(Some)
            }
            sub::DELETE_CREDENTIAL => {
                let bound = self.authorize(env, &req)?;
                let record = find_named(env, &sub_params, bound.as_deref())?;
                // §6.8.5: gone from the store, so no lookup opens it again.
                store::delete(env.store(), &record)?;
                Ok(None)
            }
            sub::UPDATE_USER_INFORMATION => {
                let bound = self.authorize(env, &req)?;
                let user = sub_params
                    .user
                    .as_ref()
                    .ok_or(CtapError::MissingParameter)?;
                let record = find_named(env, &sub_params, bound.as_deref())?;
                update_user(env, record, user)?;
                Ok(None)
            }
            _ => Err(CtapError::InvalidSubcommand.into()),
        }
    }

    /// The common authorisation steps (§6.8.2–§6.8.6 steps 1–4): a
    /// pinUvAuthParam is required, verified over `subCommand ||
    /// subCommandParams` with the `cm` permission. Returns the token's
    /// permissions RP ID, if it has one; an unbound token stays unbound.
    fn authorize<E: Env>(
        &mut self,
        env: &mut E,
        req: &Request<'_>,
    ) -> Result<Option<String>, Error> {
        let param = req.param.ok_or(CtapError::PuatRequired)?;
        let protocol = req.protocol.ok_or(CtapError::MissingParameter)?;
        self.verify_pin_uv_auth_param(
            env,
            protocol,
            param,
            &auth_message(req)?,
            Permission::CredentialManagement,
            None,
        )?;
        Ok(self.pin_token_rp_id().map(str::to_owned))
    }

    /// [`Self::authorize`] for the read-only subcommands (getCredsMetadata,
    /// enumerateRPsBegin, enumerateCredentialsBegin), which the persistent
    /// token (CTAP 2.2 `pcmr`, pin/persistent.rs) may also authorise; it is
    /// bound to no RP. Only a param that fails under the ordinary token is
    /// tried against it, so every other refusal keeps its status.
    fn authorize_read<E: Env>(
        &mut self,
        env: &mut E,
        req: &Request<'_>,
    ) -> Result<Option<String>, Error> {
        match self.authorize(env, req) {
            Err(refused) if refused.status() == CtapError::PinAuthInvalid => {
                let (Some(param), Some(protocol)) = (req.param, req.protocol) else {
                    return Err(refused);
                };
                let protocol = PinProtocol::from_number(protocol)?;
                if persistent::verifies(env.store(), protocol, &auth_message(req)?, param)? {
                    Ok(None)
                } else {
                    Err(refused)
                }
            }
            other => other,
        }
    }

    /// §6.8.2 step 4 / §6.8.3 step 4: device-wide subcommands need a token
    /// with no permissions RP ID, else CTAP2_ERR_PIN_AUTH_INVALID.
    fn authorize_read_unbound<E: Env>(
        &mut self,
        env: &mut E,
        req: &Request<'_>,
    ) -> Result<(), Error> {
        match self.authorize_read(env, req)? {
            None => Ok(()),
            Some(_) => Err(CtapError::PinAuthInvalid.into()),
        }
    }

    /// §6.8.2 getCredsMetadata.
    fn creds_metadata<E: Env>(&mut self, env: &mut E) -> Result<Value, Error> {
        let existing = store::count(env.store())?;
        let remaining = store::remaining(env.store(), self.config.max_discoverable_credentials)?;
        Ok(Value::int_map(vec![
            (0x01, Value::Unsigned(existing)),
            (0x02, Value::Unsigned(remaining)),
        ]))
    }

    /// §6.8.3 enumerateRPsBegin: the first RP (sorted by id) and the total.
    fn enumerate_rps_begin<E: Env>(&mut self, env: &mut E) -> Result<Value, Error> {
        let mut rps: VecDeque<_> = store::relying_parties(env.store())?.into();
        let total = rps.len();
        let (id, name) = rps.pop_front().ok_or(CtapError::NoCredentials)?;
        if !rps.is_empty() {
            self.management.enumeration = Some(Enumeration::Rps {
                remaining: rps,
                last_response: env.now(),
            });
        }
        Ok(rp_response(&id, name.as_deref(), Some(total)))
    }

    /// §6.8.3 enumerateRPsGetNextRP.
    fn enumerate_rps_next<E: Env>(
        &mut self,
        env: &mut E,
        enumeration: Option<Enumeration>,
    ) -> Result<Value, CtapError> {
        let Some(Enumeration::Rps { mut remaining, .. }) = enumeration else {
            return Err(CtapError::NotAllowed);
        };
        let (id, name) = remaining.pop_front().ok_or(CtapError::NotAllowed)?;
        if !remaining.is_empty() {
            self.management.enumeration = Some(Enumeration::Rps {
                remaining,
                last_response: env.now(),
            });
        }
        Ok(rp_response(&id, name.as_deref(), None))
    }

    /// §6.8.4 enumerateCredentialsBegin: the RP's newest credential and the
    /// total. Only credentials whose IDs still open are counted, exactly
    /// those getAssertion could use.
    fn enumerate_credentials_begin<E: Env>(
        &mut self,
        env: &mut E,
        hash: [u8; 32],
    ) -> Result<Value, Error> {
        let mut opened = VecDeque::new();
        for record in crate::record::for_rp(env.store(), &hash)? {
            if let Some(response) = self.credential_response(env, &hash, &record)? {
                opened.push_back((record.credential_id, response));
            }
        }
        let total = opened.len();
        let (_, mut first) = opened.pop_front().ok_or(CtapError::NoCredentials)?;
        if let Value::Map(pairs) = &mut first {
            pairs.push((Value::Unsigned(0x09), usize_value(total)));
        }
        if !opened.is_empty() {
            self.management.enumeration = Some(Enumeration::Credentials {
                rp_id_hash: hash,
                remaining: opened.into_iter().map(|(id, _)| id).collect(),
                last_response: env.now(),
            });
        }
        Ok(first)
    }

    /// §6.8.4 enumerateCredentialsGetNextCredential.
    fn enumerate_credentials_next<E: Env>(
        &mut self,
        env: &mut E,
        enumeration: Option<Enumeration>,
    ) -> Result<Value, Error> {
        let Some(Enumeration::Credentials {
            rp_id_hash: hash,
            mut remaining,
            ..
        }) = enumeration
        else {
            return Err(CtapError::NotAllowed.into());
        };
        // Nothing can delete a credential while the state lives (any other
        // command ends it), but a record that vanished is skipped, not fatal.
        let response = loop {
            let id = remaining.pop_front().ok_or(CtapError::NotAllowed)?;
            let Some(record) = crate::record::find(env.store(), &hash, &id)? else {
                continue;
            };
            if let Some(response) = self.credential_response(env, &hash, &record)? {
                break response;
            }
        };
        if !remaining.is_empty() {
            self.management.enumeration = Some(Enumeration::Credentials {
                rp_id_hash: hash,
                remaining,
                last_response: env.now(),
            });
        }
        Ok(response)
    }

    /// One credential's §6.8.4 response fields (user, credentialID,
    /// publicKey, credProtect, largeBlobKey), or `None` if it opens neither
    /// by its own stored key nor by its ID under our wrap keys.
    fn credential_response<E: Env>(
        &mut self,
        env: &mut E,
        hash: &[u8; 32],
        record: &CredentialRecord,
    ) -> Result<Option<Value>, Error> {
        let keyring = self.secrets.keyring(env)?;
        let Some(opened) = lookup::record_key(&keyring, hash, record) else {
            return Ok(None);
        };
        let mut user = vec![("id", Value::bytes(&record.user_id))];
        if let Some(name) = &record.user_name {
            user.push(("name", Value::text(name)));
        }
        if let Some(display) = &record.user_display_name {
            user.push(("displayName", Value::text(display)));
        }
        let mut pairs = vec![
            (0x06, Value::text_map(user)),
            (
                0x07,
                Value::text_map(vec![
                    ("id", Value::bytes(&record.credential_id)),
                    ("type", Value::text(PUBLIC_KEY)),
                ]),
            ),
            (0x08, opened.key.cose_public_key()?),
            // credProtect as sealed in the ID (the record keeps a copy; an
            // imported credential with its key in the record has only that).
            (0x0A, Value::Unsigned(u64::from(opened.flags.cred_protect))),
        ];
        if let Some(key) = &record.large_blob_key {
            pairs.push((0x0B, Value::bytes(key)));
        }
        // CTAP 2.2 §6.8.4 (thirdPartyPayment, 0x0C): always, since the
        // extension is supported; false for credentials made without it.
        pairs.push((0x0C, Value::Bool(opened.flags.third_party_payment)));
        Ok(Some(Value::int_map(pairs)))
    }
}

/// What a pinUvAuthParam covers: `subCommand || subCommandParams` (§6.8
/// steps 1–4).
fn auth_message(req: &Request<'_>) -> Result<Vec<u8>, CtapError> {
    let sub_command = u8::try_from(req.sub_command).map_err(|_| CtapError::InvalidSubcommand)?;
    let mut message = vec![sub_command];
    message.extend_from_slice(&raw_sub_command_params(req.params));
    Ok(message)
}

/// The credential a delete/update names (§6.8.5, §6.8.6): a missing
/// credentialID is MISSING_PARAMETER, an unknown one NO_CREDENTIALS, and
/// one of another RP than the token's permissions RP ID
/// PIN_AUTH_INVALID (§6.8.5 step 4, §6.8.6 step 4).
fn find_named<E: Env>(
    env: &mut E,
    params: &Params<'_>,
    bound: Option<&str>,
) -> Result<CredentialRecord, Error> {
    let id = params.credential_id.ok_or(CtapError::MissingParameter)?;
    let id = id.ok_or(CtapError::NoCredentials)?;
    let record = store::find_by_id(env.store(), id)?.ok_or(CtapError::NoCredentials)?;
    if bound.is_some_and(|rp| rp != record.rp_id) {
        return Err(CtapError::PinAuthInvalid.into());
    }
    Ok(record)
}

/// §6.8.6 updateUserInformation: the user id must match; name and
/// displayName are replaced, and absent or empty ones removed.
fn update_user<E: Env>(
    env: &mut E,
    mut record: CredentialRecord,
    user: &User<'_>,
) -> Result<(), Error> {
    if user.id != record.user_id.as_slice() {
        return Err(CtapError::InvalidParameter.into());
    }
    let keep = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_owned);
    record.user_name = keep(user.name);
    record.user_display_name = keep(user.display_name);
    store::replace(env.store(), &record)
}

/// §6.8.3 response: `{3: rp {id, name?}, 4: rpIDHash, 5: totalRPs?}`.
fn rp_response(id: &str, name: Option<&str>, total: Option<usize>) -> Value {
    let mut rp = vec![("id", Value::text(id))];
    if let Some(name) = name {
        rp.push(("name", Value::text(name)));
    }
    let mut pairs = vec![
        (0x03, Value::text_map(rp)),
        (0x04, Value::bytes(&rp_id_hash(id))),
    ];
    if let Some(total) = total {
        pairs.push((0x05, usize_value(total)));
    }
    Value::int_map(pairs)
}

fn usize_value(n: usize) -> Value {
    Value::Unsigned(u64::try_from(n).unwrap_or(u64::MAX))
}
