//! authenticatorClientPIN (CTAP 2.1 §6.5.5) in PIN/UV auth protocols 1 and
//! 2: the request shape, key agreement, setPIN and its PIN policy,
//! getPinToken and getPinUvAuthTokenUsingPinWithPermissions, the tokens at
//! work (§6.5.5.7, §6.1.2 step 11), wrong PINs and their retries, and
//! changePIN. Checks that set, change or spend the PIN are destructive; they
//! run after the reset, so they start from a key without a PIN.

use super::common::{RP_ID, expect_status, pass_if, send_make_credential, status_text};
use crate::Error;
use crate::catalog::pin::{self, Protocol, permission, sub};
use crate::catalog::{Check, Family, Session, Verdict};
use crate::ctap2::cbor::{MapView, Value, as_bytes, as_int, int, text};
use crate::ctap2::{MakeCredentialRequest, flags, status};

/// The PIN the destructive checks set.
pub const RUN_PIN: &str = "271828";
/// What changePIN changes it to, and back.
const OTHER_PIN: &str = "314159";

/// Whether the key offers `p`; `Err` with the reason it does not.
fn offers(s: &mut Session, p: Protocol) -> Result<Result<(), String>, Error> {
    let info = s.info()?;
    if info.option("clientPin").is_none() {
        return Ok(Err("getInfo has no clientPin option".into()));
    }
    if !info.pin_uv_auth_protocols.contains(&(p.number() as u64)) {
        return Ok(Err(format!(
            "getInfo pinUvAuthProtocols {:?} lack {}",
            info.pin_uv_auth_protocols,
            p.number()
        )));
    }
    Ok(Ok(()))
}

/// The PIN the run set, setting it on a key without one. `Err` with the
/// check's verdict otherwise: not applicable to a key without clientPIN or
/// with a PIN this run does not know, failed when the key refuses setPIN.
pub fn ensure_pin(s: &mut Session) -> Result<Result<String, Verdict>, Error> {
    if let Some(p) = &s.pin {
        return Ok(Ok(p.clone()));
    }
    let not_applicable = |why: &str| Ok(Err(Verdict::NotApplicable(why.into())));
    match s.info()?.option("clientPin") {
        None => not_applicable("getInfo has no clientPin option"),
        Some(true) => not_applicable("the key has a PIN this run did not set"),
        Some(false) => {
            let protocol = pin::preferred_protocol(s)?;
            let status = pin::set_pin(s, protocol, RUN_PIN)?;
            if status != status::SUCCESS {
                return Ok(Err(Verdict::Fail(format!(
                    "setPIN answered {}",
                    status_text(status)
                ))));
            }
            s.pin = Some(RUN_PIN.into());
            s.forget_info();
            Ok(Ok(RUN_PIN.into()))
        }
    }
}

/// A check for protocol `p`, not applicable when the key lacks it.
fn per_protocol(
    id: &str,
    p: Protocol,
    spec: &str,
    sends: &str,
    expects: &str,
    body: impl Fn(&mut Session, Protocol) -> Result<Verdict, Error> + Send + Sync + 'static,
) -> Check {
    Check::new(
        format!("clientpin.{}.{id}", p.name()),
        Family::ClientPin,
        spec,
        sends,
        expects,
        move |s| match offers(s, p)? {
            Err(why) => Ok(Verdict::NotApplicable(why)),
            Ok(()) => body(s, p),
        },
    )
}

/// A destructive check for protocol `p` on a key with the run's PIN.
fn with_pin(
    id: &str,
    p: Protocol,
    spec: &str,
    sends: &str,
    expects: &str,
    body: impl Fn(&mut Session, Protocol, &str) -> Result<Verdict, Error> + Send + Sync + 'static,
) -> Check {
    per_protocol(id, p, spec, sends, expects, move |s, p| {
        match ensure_pin(s)? {
            Err(verdict) => Ok(verdict),
            Ok(pin) => body(s, p, &pin),
        }
    })
    .destructive()
}

fn status_of(r: Result<Vec<u8>, u8>) -> u8 {
    match r {
        Ok(_) => status::SUCCESS,
        Err(s) => s,
    }
}

/// makeCredential with a pinUvAuthParam made with `token`; its status and
/// UV flag.
fn make_with_token(
    s: &mut Session,
    p: Protocol,
    token: &[u8],
    rp_id: &str,
) -> Result<(u8, bool), Error> {
    let mut cdh = [0u8; 32];
    crate::bytes::random_bytes(&mut cdh)?;
    let mut req = MakeCredentialRequest::new(cdh, rp_id, b"conformance-user");
    req.extra.extend(pin::pin_uv_members(8, p, token, &cdh));
    Ok(match send_make_credential(s, &req)? {
        Ok(att) => (status::SUCCESS, att.flags() & flags::UV != 0),
        Err(st) => (st, false),
    })
}

fn request_checks() -> Vec<Check> {
    let s651 = "CTAP 2.1 §6.5.5.1 (clientPIN parameters); §8.2";
    let raw = |id: &str, spec: &str, sends: &str, pairs: Vec<(i64, Value)>, want: u8| {
        Check::in_family(
            Family::ClientPin,
            id,
            spec,
            sends,
            status_text(want),
            move |s| {
                if s.info()?.option("clientPin").is_none() {
                    return Ok(Verdict::NotApplicable(
                        "getInfo has no clientPin option".into(),
                    ));
                }
                Ok(expect_status(pin::client_pin(s, pairs.clone())?.0, &[want]))
            },
        )
    };
    vec![
        raw(
            "missing-subcommand",
            s651,
            "clientPIN with pinUvAuthProtocol 2 and no subCommand",
            vec![(1, int(2))],
            status::MISSING_PARAMETER,
        ),
        raw(
            "subcommand-text",
            s651,
            "clientPIN whose subCommand is text",
            vec![(1, int(2)), (2, text("2"))],
            status::CBOR_UNEXPECTED_TYPE,
        ),
        raw(
            "protocol-text",
            s651,
            "getKeyAgreement whose pinUvAuthProtocol is text",
            vec![(1, text("2")), (2, int(sub::GET_KEY_AGREEMENT))],
            status::CBOR_UNEXPECTED_TYPE,
        ),
        raw(
            "unknown-subcommand",
            "CTAP 2.1 §6.5.5.1 (an unknown subCommand: CTAP2_ERR_INVALID_SUBCOMMAND)",
            "clientPIN subCommand 0x20",
            vec![(1, int(2)), (2, int(0x20))],
            status::INVALID_SUBCOMMAND,
        ),
        raw(
            "key-agreement-missing-protocol",
            "CTAP 2.1 §6.5.5.4 (getKeyAgreement needs pinUvAuthProtocol)",
            "getKeyAgreement without pinUvAuthProtocol",
            vec![(2, int(sub::GET_KEY_AGREEMENT))],
            status::MISSING_PARAMETER,
        ),
        raw(
            "key-agreement-unknown-protocol",
            "CTAP 2.1 §6.5.5.4 (an unsupported protocol: CTAP1_ERR_INVALID_PARAMETER)",
            "getKeyAgreement with pinUvAuthProtocol 3",
            vec![(1, int(3)), (2, int(sub::GET_KEY_AGREEMENT))],
            status::INVALID_PARAMETER,
        ),
        raw(
            "set-pin-missing-members",
            "CTAP 2.1 §6.5.5.5 step 1",
            "setPIN with only pinUvAuthProtocol",
            vec![(1, int(2)), (2, int(sub::SET_PIN))],
            status::MISSING_PARAMETER,
        ),
    ]
}

fn key_agreement_checks(p: Protocol) -> Vec<Check> {
    vec![per_protocol(
        "key-agreement",
        p,
        "CTAP 2.1 §6.5.5.4, §6.5.6 getPublicKey (COSE: kty EC2, alg -25, crv P-256)",
        "getKeyAgreement",
        "a COSE_Key {1: 2, 3: -25, -1: 1, -2: x, -3: y} on P-256",
        |s, p| {
            let key = pin::authenticator_key(s, p)?;
            let m = MapView::new(&key, "keyAgreement")?;
            let kty = as_int(m.require_int(1)?, "kty")?;
            let alg = as_int(m.require_int(3)?, "alg")?;
            let crv = as_int(m.require_int(-1)?, "crv")?;
            let x = as_bytes(m.require_int(-2)?, "x")?;
            let y = as_bytes(m.require_int(-3)?, "y")?;
            let on_curve = p256::PublicKey::from_sec1_bytes(&[&[0x04][..], x, y].concat()).is_ok();
            Ok(pass_if(
                (kty, alg, crv) == (2, -25, 1) && on_curve,
                "P-256 ECDH key",
                format!("kty {kty}, alg {alg}, crv {crv}, on the curve: {on_curve}"),
            ))
        },
    )]
}

fn no_pin_checks(p: Protocol) -> Vec<Check> {
    let no_pin = |s: &mut Session| -> Result<Option<Verdict>, Error> {
        Ok(match s.info()?.option("clientPin") {
            Some(false) => None,
            _ => Some(Verdict::NotApplicable(
                "the key has a PIN (these run right after the reset)".into(),
            )),
        })
    };
    vec![
        per_protocol(
            "get-pin-token-without-pin",
            p,
            "CTAP 2.1 §6.5.5.7.1 (no PIN: CTAP2_ERR_PIN_NOT_SET)",
            "getPinToken on a key without a PIN",
            "0x35 CTAP2_ERR_PIN_NOT_SET",
            move |s, p| {
                if let Some(v) = no_pin(s)? {
                    return Ok(v);
                }
                Ok(expect_status(
                    status_of(pin::pin_token(s, p, RUN_PIN, None)?),
                    &[status::PIN_NOT_SET],
                ))
            },
        )
        .destructive(),
        per_protocol(
            "set-pin-too-short",
            p,
            "CTAP 2.1 §6.5.5.5 step 7 (fewer than minPINLength code points)",
            "setPIN with a 3-digit PIN",
            "0x37 CTAP2_ERR_PIN_POLICY_VIOLATION",
            move |s, p| {
                if let Some(v) = no_pin(s)? {
                    return Ok(v);
                }
                Ok(expect_status(
                    pin::set_pin(s, p, "123")?,
                    &[status::PIN_POLICY_VIOLATION],
                ))
            },
        )
        .destructive(),
        per_protocol(
            "set-pin-no-terminator",
            p,
            "CTAP 2.1 §6.5.5.5 step 7 (a PIN is at most 63 bytes)",
            "setPIN with 64 non-zero bytes",
            "0x37 CTAP2_ERR_PIN_POLICY_VIOLATION",
            move |s, p| {
                if let Some(v) = no_pin(s)? {
                    return Ok(v);
                }
                Ok(expect_status(
                    pin::set_pin_raw(s, p, &[b'7'; 64])?,
                    &[status::PIN_POLICY_VIOLATION],
                ))
            },
        )
        .destructive(),
        per_protocol(
            "set-pin-short-block",
            p,
            "CTAP 2.1 §6.5.5.5 step 6 (paddedNewPin is 64 bytes)",
            "setPIN with a PIN padded to 32 bytes",
            "0x02 CTAP1_ERR_INVALID_PARAMETER",
            move |s, p| {
                if let Some(v) = no_pin(s)? {
                    return Ok(v);
                }
                Ok(expect_status(
                    pin::set_pin_raw(s, p, &pin::padded(RUN_PIN.as_bytes(), 32))?,
                    &[status::INVALID_PARAMETER],
                ))
            },
        )
        .destructive(),
        per_protocol(
            "set-pin-bad-auth",
            p,
            "CTAP 2.1 §6.5.5.5 step 5 (pinUvAuthParam over newPinEnc)",
            "setPIN whose pinUvAuthParam is wrong",
            "0x33 CTAP2_ERR_PIN_AUTH_INVALID",
            move |s, p| {
                if let Some(v) = no_pin(s)? {
                    return Ok(v);
                }
                let (platform, shared) = pin::key_agreement(s, p)?;
                let enc = shared.encrypt(&pin::padded(RUN_PIN.as_bytes(), 64))?;
                let wrong = shared.authenticate(b"not the newPinEnc");
                let status = pin::client_pin(
                    s,
                    vec![
                        (1, int(p.number())),
                        (2, int(sub::SET_PIN)),
                        (3, platform),
                        (4, Value::Bytes(wrong)),
                        (5, Value::Bytes(enc)),
                    ],
                )?
                .0;
                Ok(expect_status(status, &[status::PIN_AUTH_INVALID]))
            },
        )
        .destructive(),
    ]
}

fn with_pin_checks(p: Protocol) -> Vec<Check> {
    let s6572 = "CTAP 2.1 §6.5.5.7.2 (getPinUvAuthTokenUsingPinWithPermissions)";
    vec![
        with_pin("pin-set", p, "CTAP 2.1 §6.5.5.5, §6.4 (clientPin: true once a PIN is set)", "setPIN (if none is set yet), then getInfo", "clientPin true", |s, _, _| {
            Ok(pass_if(s.info()?.option("clientPin") == Some(true), "clientPin: true", "getInfo does not say clientPin: true"))
        }),
        with_pin("set-pin-again", p, "CTAP 2.1 §6.5.5.5 step 3 (a PIN is already set: CTAP2_ERR_PIN_AUTH_INVALID)", "setPIN on a key with a PIN", "0x33 CTAP2_ERR_PIN_AUTH_INVALID", |s, p, _| {
            Ok(expect_status(pin::set_pin(s, p, OTHER_PIN)?, &[status::PIN_AUTH_INVALID]))
        }),
        with_pin("retries-full", p, "CTAP 2.1 §6.5.5.2 (getPINRetries), §6.5.2 (at most 8)", "getPINRetries after the PIN was set", "pinRetries 1 to 8, the maximum after a right PIN", |s, p, pin_now| {
            let _ = pin::pin_token(s, p, pin_now, None)?;
            Ok(match pin::pin_retries(s, p)? {
                Ok(n) if (1..=8).contains(&n) => Verdict::Pass(format!("{n}")),
                Ok(n) => Verdict::Fail(format!("pinRetries {n}")),
                Err(st) => Verdict::Fail(status_text(st)),
            })
        }),
        with_pin("get-pin-token", p, "CTAP 2.1 §6.5.5.7.1 (getPinToken)", "getPinToken with the right PIN", "a 16- or 32-byte token", |s, p, pin_now| {
            Ok(match pin::pin_token(s, p, pin_now, None)? {
                Ok(t) if t.len() == 32 || t.len() == 16 => Verdict::Pass(format!("{} bytes", t.len())),
                Ok(t) => Verdict::Fail(format!("a {}-byte token", t.len())),
                Err(st) => Verdict::Fail(status_text(st)),
            })
        }),
        with_pin("token-makes-credential", p, "CTAP 2.1 §6.1.2 step 11 (a verified pinUvAuthParam sets UV)", "getPinUvAuthTokenUsingPinWithPermissions (mc), then makeCredential with its pinUvAuthParam", "after a touch: a credential with UV set", |s, p, pin_now| {
            let token = match pin::pin_token(s, p, pin_now, Some((permission::MAKE_CREDENTIAL, Some(RP_ID))))? {
                Ok(t) => t,
                Err(st) => return Ok(Verdict::Fail(format!("token: {}", status_text(st)))),
            };
            let (st, uv) = make_with_token(s, p, &token, RP_ID)?;
            Ok(pass_if(st == 0 && uv, "made, UV set", format!("{} UV {uv}", status_text(st))))
        }).with_presence(),
        with_pin("token-for-another-rp", p, "CTAP 2.1 §6.1.2 step 11 (a token bound to another RP: CTAP2_ERR_PIN_AUTH_INVALID)", "a token for one RP used to make a credential for another", "0x33 CTAP2_ERR_PIN_AUTH_INVALID", |s, p, pin_now| {
            let token = match pin::pin_token(s, p, pin_now, Some((permission::MAKE_CREDENTIAL, Some(RP_ID))))? {
                Ok(t) => t,
                Err(st) => return Ok(Verdict::Fail(format!("token: {}", status_text(st)))),
            };
            Ok(expect_status(make_with_token(s, p, &token, "other.conformance.softkey.example")?.0, &[status::PIN_AUTH_INVALID]))
        }),
        with_pin("token-without-mc", p, "CTAP 2.1 §6.1.2 step 11 (the token needs the mc permission)", "a ga-only token used to make a credential", "0x33 CTAP2_ERR_PIN_AUTH_INVALID", |s, p, pin_now| {
            let token = match pin::pin_token(s, p, pin_now, Some((permission::GET_ASSERTION, Some(RP_ID))))? {
                Ok(t) => t,
                Err(st) => return Ok(Verdict::Fail(format!("token: {}", status_text(st)))),
            };
            Ok(expect_status(make_with_token(s, p, &token, RP_ID)?.0, &[status::PIN_AUTH_INVALID]))
        }),
        with_pin("token-used-up", p, "CTAP 2.1 §6.1.2 step 14 (a used token loses mc and ga)", "a mc token used for two makeCredentials", "after a touch: the first made, the second 0x33 CTAP2_ERR_PIN_AUTH_INVALID", |s, p, pin_now| {
            let token = match pin::pin_token(s, p, pin_now, Some((permission::MAKE_CREDENTIAL, Some(RP_ID))))? {
                Ok(t) => t,
                Err(st) => return Ok(Verdict::Fail(format!("token: {}", status_text(st)))),
            };
            let first = make_with_token(s, p, &token, RP_ID)?.0;
            let second = make_with_token(s, p, &token, RP_ID)?.0;
            Ok(pass_if(first == 0 && second == status::PIN_AUTH_INVALID, "once only", format!("{}, then {}", status_text(first), status_text(second))))
        }).with_presence(),
        with_pin("bad-pin-uv-auth-param", p, "CTAP 2.1 §6.1.2 step 11 (a param that does not verify)", "makeCredential with a pinUvAuthParam of random bytes", "0x33 CTAP2_ERR_PIN_AUTH_INVALID", |s, p, _| {
            let junk = vec![0x5A; 32];
            Ok(expect_status(make_with_token(s, p, &junk, RP_ID)?.0, &[status::PIN_AUTH_INVALID]))
        }),
        with_pin("permissions-zero", p, s6572, "permissions 0", "0x02 CTAP1_ERR_INVALID_PARAMETER", |s, p, pin_now| {
            Ok(expect_status(status_of(pin::pin_token(s, p, pin_now, Some((0, Some(RP_ID))))?), &[status::INVALID_PARAMETER]))
        }),
        with_pin("mc-permission-without-rp", p, s6572, "the mc permission and no rpId", "0x02 CTAP1_ERR_INVALID_PARAMETER", |s, p, pin_now| {
            Ok(expect_status(status_of(pin::pin_token(s, p, pin_now, Some((permission::MAKE_CREDENTIAL, None)))?), &[status::INVALID_PARAMETER]))
        }),
        with_pin("be-permission-without-bio", p, s6572, "the be permission on a key without bioEnroll", "0x40 CTAP2_ERR_UNAUTHORIZED_PERMISSION", |s, p, pin_now| {
            if s.info()?.options.contains_key("bioEnroll") {
                return Ok(Verdict::NotApplicable("getInfo has bioEnroll".into()));
            }
            Ok(expect_status(status_of(pin::pin_token(s, p, pin_now, Some((permission::BIO_ENROLLMENT, None)))?), &[status::UNAUTHORIZED_PERMISSION]))
        }),
        with_pin("wrong-pin", p, "CTAP 2.1 §6.5.5.7.2 steps 7–8 (a wrong PIN: one retry spent, CTAP2_ERR_PIN_INVALID)", "getPinToken with a wrong PIN, then the right one", "0x31 and pinRetries one lower; the right PIN then works and restores them", |s, p, pin_now| {
            let before = match pin::pin_retries(s, p)? {
                Ok(n) => n,
                Err(st) => return Ok(Verdict::Fail(format!("getPINRetries: {}", status_text(st)))),
            };
            let wrong = status_of(pin::pin_token(s, p, "000000", None)?);
            let after = pin::pin_retries(s, p)?.unwrap_or(u64::MAX);
            let right = status_of(pin::pin_token(s, p, pin_now, None)?);
            let restored = pin::pin_retries(s, p)?.unwrap_or(0);
            Ok(pass_if(
                wrong == status::PIN_INVALID && after + 1 == before && right == 0 && restored == before,
                format!("{before} → {after} → {restored}"),
                format!("wrong PIN {}, retries {before} → {after}; right PIN {}, retries {restored}", status_text(wrong), status_text(right)),
            ))
        }),
        with_pin("invalid-key-agreement", p, "CTAP 2.1 §6.5.6 decapsulate (a point not on the curve: CTAP1_ERR_INVALID_PARAMETER), no retry spent", "getPinToken whose keyAgreement is not a P-256 point", "0x02 CTAP1_ERR_INVALID_PARAMETER, pinRetries unchanged", |s, p, _| {
            let before = pin::pin_retries(s, p)?.unwrap_or(0);
            let bogus = Value::Map(vec![(int(1), int(2)), (int(3), int(-25)), (int(-1), int(1)), (int(-2), Value::Bytes(vec![1; 32])), (int(-3), Value::Bytes(vec![2; 32]))]);
            let st = pin::client_pin(s, vec![(1, int(p.number())), (2, int(sub::GET_PIN_TOKEN)), (3, bogus), (6, Value::Bytes(vec![0; if p == Protocol::One { 16 } else { 32 }]))])?.0;
            let after = pin::pin_retries(s, p)?.unwrap_or(0);
            Ok(pass_if(st == status::INVALID_PARAMETER && after == before, format!("{}, retries {after}", status_text(st)), format!("{}, retries {before} → {after}", status_text(st))))
        }),
        with_pin("change-pin-wrong-current", p, "CTAP 2.1 §6.5.5.6 steps 6–8 (a wrong current PIN)", "changePIN with a wrong current PIN", "0x31 CTAP2_ERR_PIN_INVALID", |s, p, pin_now| {
            let st = pin::change_pin(s, p, "000000", OTHER_PIN)?;
            // Leave the retries full for the checks after.
            let _ = pin::pin_token(s, p, pin_now, None)?;
            Ok(expect_status(st, &[status::PIN_INVALID]))
        }),
        with_pin("change-pin-too-short", p, "CTAP 2.1 §6.5.5.6 step 10 (the new PIN's policy)", "changePIN to a 3-digit PIN", "0x37 CTAP2_ERR_PIN_POLICY_VIOLATION", |s, p, pin_now| {
            Ok(expect_status(pin::change_pin(s, p, pin_now, "123")?, &[status::PIN_POLICY_VIOLATION]))
        }),
        with_pin("change-pin", p, "CTAP 2.1 §6.5.5.6", "changePIN to another PIN, then back", "0x00 both ways; the old PIN refused in between", |s, p, pin_now| {
            let to_other = pin::change_pin(s, p, pin_now, OTHER_PIN)?;
            if to_other != 0 {
                return Ok(Verdict::Fail(format!("changePIN: {}", status_text(to_other))));
            }
            let old = status_of(pin::pin_token(s, p, pin_now, None)?);
            let back = pin::change_pin(s, p, OTHER_PIN, pin_now)?;
            Ok(pass_if(old == status::PIN_INVALID && back == 0, "changed and changed back", format!("old PIN {}, change back {}", status_text(old), status_text(back))))
        }),
    ]
}

pub fn checks() -> Vec<Check> {
    let mut checks = request_checks();
    for p in [Protocol::One, Protocol::Two] {
        checks.extend(key_agreement_checks(p));
    }
    for p in [Protocol::One, Protocol::Two] {
        checks.extend(no_pin_checks(p));
    }
    for p in [Protocol::One, Protocol::Two] {
        checks.extend(with_pin_checks(p));
    }
    checks
}
