//! authenticatorCredentialManagement (CTAP 2.1 §6.8): metadata, RPs and
//! credentials enumerated, a user updated and a credential deleted, each
//! authorised by a cm token over `subCommand ‖ subCommandParams`; and the
//! refusals. Destructive, for the PIN and the credentials it needs.

use sha2::{Digest, Sha256};

use super::common::{expect_status, refused, status_text, text_map};
use super::verified::{make_discoverable, token};
use crate::Error;
use crate::catalog::pin::Protocol;
use crate::catalog::pin::permission::{CREDENTIAL_MANAGEMENT, GET_ASSERTION, MAKE_CREDENTIAL};
use crate::catalog::{Check, Family, Session, Verdict};
use crate::ctap2::cbor::{MapView, Value, as_bytes, as_uint, decode_canonical, encode, int, text};
use crate::ctap2::{command, status};

mod sub {
    pub const GET_CREDS_METADATA: u8 = 0x01;
    pub const ENUMERATE_RPS_BEGIN: u8 = 0x02;
    pub const ENUMERATE_RPS_NEXT: u8 = 0x03;
    pub const ENUMERATE_CREDENTIALS_BEGIN: u8 = 0x04;
    pub const DELETE_CREDENTIAL: u8 = 0x06;
    pub const UPDATE_USER_INFORMATION: u8 = 0x07;
}

/// A credentialManagement request; with `token`, its pinUvAuthParam over
/// `subCommand ‖ subCommandParams`. The status and body.
fn cm(
    s: &mut Session,
    sub_command: u8,
    params: Option<Value>,
    token: Option<&[u8]>,
) -> Result<(u8, Vec<u8>), Error> {
    let mut pairs = vec![(int(1), int(i64::from(sub_command)))];
    let mut message = vec![sub_command];
    if let Some(p) = &params {
        message.extend_from_slice(&encode(p));
        pairs.push((int(2), p.clone()));
    }
    if let Some(t) = token {
        pairs.push((int(3), int(2)));
        pairs.push((
            int(4),
            Value::Bytes(Protocol::Two.authenticate(t, &message)),
        ));
    }
    s.send(command::CREDENTIAL_MANAGEMENT, Some(&Value::Map(pairs)))
}

fn rp_of(id: &str) -> String {
    format!("{id}.cm.conformance.softkey.example")
}

fn rp_hash(rp: &str) -> Vec<u8> {
    Sha256::digest(rp.as_bytes()).to_vec()
}

fn descriptor(id: &[u8]) -> Value {
    text_map(vec![
        ("id", Value::Bytes(id.to_vec())),
        ("type", text("public-key")),
    ])
}

/// A check on a key with credMgmt, given a cm token and one discoverable
/// credential of its own RP (id returned).
fn check(
    id: &'static str,
    spec: &str,
    sends: &str,
    expects: &str,
    body: impl Fn(&mut Session, &str, &[u8], Vec<u8>) -> Result<Verdict, Error> + Send + Sync + 'static,
) -> Check {
    Check::in_family(
        Family::CredentialManagement,
        id,
        spec,
        sends,
        expects,
        move |s| {
            if s.info()?.option("credMgmt") != Some(true) {
                return Ok(Verdict::NotApplicable(
                    "getInfo options says credMgmt is not true".into(),
                ));
            }
            let rp = rp_of(id);
            let mc = match token(s, MAKE_CREDENTIAL | GET_ASSERTION, Some(&rp))? {
                Ok(t) => t,
                Err(verdict) => return Ok(verdict),
            };
            let made = match make_discoverable(s, &mc, &rp, b"cm-user", "cm", None)? {
                Ok(a) => a,
                Err(st) => {
                    return Ok(Verdict::Fail(format!(
                        "makeCredential: {}",
                        status_text(st)
                    )));
                }
            };
            let cm_token = match token(s, CREDENTIAL_MANAGEMENT, None)? {
                Ok(t) => t,
                Err(verdict) => return Ok(verdict),
            };
            body(s, &rp, &cm_token, made.credential_id().to_vec())
        },
    )
    .with_presence()
    .destructive()
}

fn map(body: &[u8]) -> Result<Value, Error> {
    decode_canonical(body)
}

/// totalCredentials, the first credential's user map and its ID.
type Listed = (u64, Value, Vec<u8>);

/// The credentials of `rp` as enumerateCredentialsBegin lists the first:
/// the total and the first's user map.
fn first_credential(s: &mut Session, rp: &str, t: &[u8]) -> Result<Result<Listed, u8>, Error> {
    let params = Value::Map(vec![(int(1), Value::Bytes(rp_hash(rp)))]);
    let (st, body) = cm(s, sub::ENUMERATE_CREDENTIALS_BEGIN, Some(params), Some(t))?;
    if st != 0 {
        return Ok(Err(st));
    }
    let v = map(&body)?;
    let m = MapView::new(&v, "enumerateCredentialsBegin")?;
    let user = m.require_int(6)?.clone();
    let id_map = MapView::new(m.require_int(7)?, "credentialID")?;
    let cred_id = as_bytes(id_map.require_text("id")?, "credentialID id")?.to_vec();
    m.require_int(8)?;
    let total = as_uint(m.require_int(9)?, "totalCredentials")?;
    Ok(Ok((total, user, cred_id)))
}

pub fn checks() -> Vec<Check> {
    vec![
        check(
            "metadata",
            "CTAP 2.1 §6.8.2 getCredsMetadata",
            "getCredsMetadata with a cm token",
            "existingResidentCredentialsCount ≥ 1 and maxPossibleRemainingResidentCredentialsCount",
            |s, _, t, _| {
                let (st, body) = cm(s, sub::GET_CREDS_METADATA, None, Some(t))?;
                if st != 0 {
                    return Ok(Verdict::Fail(status_text(st)));
                }
                let v = map(&body)?;
                let m = MapView::new(&v, "getCredsMetadata")?;
                let existing = as_uint(m.require_int(1)?, "existing")?;
                let remaining = as_uint(m.require_int(2)?, "remaining")?;
                Ok(if existing >= 1 {
                    Verdict::Pass(format!("{existing} existing, {remaining} remaining"))
                } else {
                    Verdict::Fail(format!("{existing} existing"))
                })
            },
        ),
        check(
            "enumerate-rps",
            "CTAP 2.1 §6.8.3 enumerateRPsBegin / GetNextRP",
            "enumerateRPsBegin, then enumerateRPsGetNextRP to the end",
            "every RP with its rpIDHash = SHA-256(id), ours among them, totalRPs of them",
            |s, rp, t, _| {
                let (st, body) = cm(s, sub::ENUMERATE_RPS_BEGIN, None, Some(t))?;
                if st != 0 {
                    return Ok(Verdict::Fail(status_text(st)));
                }
                let v = map(&body)?;
                let m = MapView::new(&v, "enumerateRPsBegin")?;
                let total = as_uint(m.require_int(5)?, "totalRPs")?;
                let mut seen = Vec::new();
                let mut entry = v.clone();
                for i in 0..total {
                    if i > 0 {
                        let (st, body) = cm(s, sub::ENUMERATE_RPS_NEXT, None, None)?;
                        if st != 0 {
                            return Ok(Verdict::Fail(format!(
                                "GetNextRP {i}: {}",
                                status_text(st)
                            )));
                        }
                        entry = map(&body)?;
                    }
                    let e = MapView::new(&entry, "RP")?;
                    let rp_map = MapView::new(e.require_int(3)?, "rp")?;
                    let id = crate::ctap2::cbor::as_text(rp_map.require_text("id")?, "rp id")?
                        .to_owned();
                    let hash = as_bytes(e.require_int(4)?, "rpIDHash")?;
                    if hash != rp_hash(&id).as_slice() {
                        return Ok(Verdict::Fail(format!(
                            "rpIDHash of {id} is not SHA-256(id)"
                        )));
                    }
                    seen.push(id);
                }
                let (after, _) = cm(s, sub::ENUMERATE_RPS_NEXT, None, None)?;
                Ok(
                    if seen.iter().any(|id| id == rp) && after == status::NOT_ALLOWED {
                        Verdict::Pass(format!("{total} RPs"))
                    } else {
                        Verdict::Fail(format!(
                            "{total} RPs without ours, or a GetNextRP past the end answered {}",
                            status_text(after)
                        ))
                    },
                )
            },
        ),
        check(
            "enumerate-credentials",
            "CTAP 2.1 §6.8.4 enumerateCredentialsBegin",
            "enumerateCredentialsBegin for the RP",
            "user, credentialID, publicKey and totalCredentials 1",
            |s, rp, t, id| {
                Ok(match first_credential(s, rp, t)? {
                    Ok((1, user, cred))
                        if cred == id && MapView::new(&user, "user")?.get_text("id").is_some() =>
                    {
                        Verdict::Pass("one credential, ours".into())
                    }
                    Ok((n, _, _)) => Verdict::Fail(format!("{n} credentials, or another one")),
                    Err(st) => Verdict::Fail(status_text(st)),
                })
            },
        ),
        check(
            "update-user",
            "CTAP 2.1 §6.8.6 updateUserInformation",
            "updateUserInformation with a new name, then enumerateCredentialsBegin",
            "the new name",
            |s, rp, t, id| {
                let user = text_map(vec![
                    ("id", Value::Bytes(b"cm-user".to_vec())),
                    ("name", text("renamed")),
                    ("displayName", text("Renamed")),
                ]);
                let params = Value::Map(vec![(int(2), descriptor(&id)), (int(3), user)]);
                let (st, _) = cm(s, sub::UPDATE_USER_INFORMATION, Some(params), Some(t))?;
                if st != 0 {
                    return Ok(Verdict::Fail(status_text(st)));
                }
                Ok(match first_credential(s, rp, t)? {
                    Ok((_, user, _)) => {
                        let name = MapView::new(&user, "user")?.get_text("name").cloned();
                        if name == Some(text("renamed")) {
                            Verdict::Pass("renamed".into())
                        } else {
                            Verdict::Fail(format!("name now {name:?}"))
                        }
                    }
                    Err(st) => Verdict::Fail(status_text(st)),
                })
            },
        ),
        check(
            "delete",
            "CTAP 2.1 §6.8.5 deleteCredential",
            "deleteCredential, then enumerateCredentialsBegin and deleteCredential again",
            "deleted; then 0x2E CTAP2_ERR_NO_CREDENTIALS both",
            |s, rp, t, id| {
                let params = Value::Map(vec![(int(2), descriptor(&id))]);
                let (st, _) = cm(s, sub::DELETE_CREDENTIAL, Some(params.clone()), Some(t))?;
                if st != 0 {
                    return Ok(Verdict::Fail(status_text(st)));
                }
                let listed = first_credential(s, rp, t)?.err().unwrap_or(0);
                let again = cm(s, sub::DELETE_CREDENTIAL, Some(params), Some(t))?.0;
                Ok(
                    if listed == status::NO_CREDENTIALS && again == status::NO_CREDENTIALS {
                        Verdict::Pass("gone".into())
                    } else {
                        Verdict::Fail(format!(
                            "enumerate {}, delete again {}",
                            status_text(listed),
                            status_text(again)
                        ))
                    },
                )
            },
        ),
        check(
            "without-token",
            "CTAP 2.1 §6.8.2 step 1 (no pinUvAuthParam: CTAP2_ERR_PUAT_REQUIRED)",
            "getCredsMetadata without pinUvAuthParam",
            "0x36 CTAP2_ERR_PUAT_REQUIRED",
            |s, _, _, _| {
                Ok(expect_status(
                    cm(s, sub::GET_CREDS_METADATA, None, None)?.0,
                    &[status::PIN_REQUIRED],
                ))
            },
        ),
        check(
            "bad-param",
            "CTAP 2.1 §6.8.2 step 3",
            "getCredsMetadata with a pinUvAuthParam of another token",
            "0x33 CTAP2_ERR_PIN_AUTH_INVALID",
            |s, _, _, _| {
                Ok(expect_status(
                    cm(s, sub::GET_CREDS_METADATA, None, Some(&[0x42; 32]))?.0,
                    &[status::PIN_AUTH_INVALID],
                ))
            },
        ),
        check(
            "token-without-cm",
            "CTAP 2.1 §6.8.2 step 4 (the token needs the cm permission)",
            "getCredsMetadata with an mc/ga token",
            "0x33 CTAP2_ERR_PIN_AUTH_INVALID",
            |s, rp, _, _| {
                let mc = match token(s, MAKE_CREDENTIAL, Some(rp))? {
                    Ok(t) => t,
                    Err(verdict) => return Ok(verdict),
                };
                Ok(expect_status(
                    cm(s, sub::GET_CREDS_METADATA, None, Some(&mc))?.0,
                    &[status::PIN_AUTH_INVALID],
                ))
            },
        ),
        check(
            "unknown-rp",
            "CTAP 2.1 §6.8.4 (no credentials for the RP: CTAP2_ERR_NO_CREDENTIALS)",
            "enumerateCredentialsBegin for an RP hash with no credentials",
            "0x2E CTAP2_ERR_NO_CREDENTIALS",
            |s, _, t, _| {
                Ok(refused(
                    first_credential(s, "nobody.conformance.softkey.example", t)?,
                    status::NO_CREDENTIALS,
                ))
            },
        ),
        check(
            "unknown-subcommand",
            "CTAP 2.1 §6.8 (an unknown subCommand: CTAP2_ERR_INVALID_SUBCOMMAND)",
            "credentialManagement subCommand 0x20",
            "0x3E CTAP2_ERR_INVALID_SUBCOMMAND",
            |s, _, t, _| {
                Ok(expect_status(
                    cm(s, 0x20, None, Some(t))?.0,
                    &[status::INVALID_SUBCOMMAND],
                ))
            },
        ),
    ]
}
