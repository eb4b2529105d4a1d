//! Extensions (CTAP 2.1 §12; CTAP 2.2 §12.9): credProtect, hmac-secret,
//! credBlob, largeBlobKey, minPinLength and thirdPartyPayment, each where
//! getInfo lists it; unknown ones ignored. Checks on discoverable
//! credentials are destructive.

use super::common::{RP_ID, expect_status, refused, send_make_credential, status_text, text_map};
use super::verified::{get_assertion, make_discoverable, token};
use crate::Error;
use crate::catalog::pin::permission::{GET_ASSERTION, MAKE_CREDENTIAL};
use crate::catalog::pin::{self, Protocol};
use crate::catalog::{Check, Family, Session, Verdict};
use crate::ctap2::cbor::{MapView, Value, int, text};
use crate::ctap2::{Attestation, GetAssertionRequest, MakeCredentialRequest, status};

/// Whether getInfo lists `extension`; not applicable if not.
fn listed(s: &mut Session, extension: &str) -> Result<Result<(), Verdict>, Error> {
    if s.info()?.extensions.iter().any(|e| e == extension) {
        return Ok(Ok(()));
    }
    Ok(Err(Verdict::NotApplicable(format!(
        "getInfo extensions lack {extension}"
    ))))
}

fn random32() -> Result<[u8; 32], Error> {
    let mut b = [0u8; 32];
    crate::bytes::random_bytes(&mut b)?;
    Ok(b)
}

/// A non-discoverable credential made with these extension inputs.
fn make(s: &mut Session, extensions: Vec<(&str, Value)>) -> Result<Result<Attestation, u8>, Error> {
    let mut req = MakeCredentialRequest::new(random32()?, RP_ID, b"conformance-user");
    req.extra.push((int(6), text_map(extensions)));
    send_make_credential(s, &req)
}

/// A non-discoverable credential made with these extension inputs; the
/// check fails with the key's status if it cannot be made.
macro_rules! made {
    ($s:expr, $inputs:expr) => {
        match make($s, $inputs)? {
            Ok(a) => a,
            Err(st) => return Ok(Verdict::Fail(status_text(st))),
        }
    };
}

/// Judges an answer's authData extensions (or the status it failed with):
/// the output `name` must be `want`, or absent for `None`.
fn expect_output(answer: Result<Option<Value>, u8>, name: &str, want: Option<Value>) -> Verdict {
    match answer {
        Err(st) => Verdict::Fail(status_text(st)),
        Ok(extensions) => {
            let got = output(&extensions, name);
            if got == want {
                Verdict::Pass(format!("{name}: {got:?}"))
            } else {
                Verdict::Fail(format!("{name} output {got:?}, not {want:?}"))
            }
        }
    }
}

/// The authData extension output named `name`.
fn output(extensions: &Option<Value>, name: &str) -> Option<Value> {
    MapView::new(extensions.as_ref()?, "extensions")
        .ok()?
        .get_text(name)
        .cloned()
}

fn ext_check(
    id: &str,
    extension: &'static str,
    spec: &str,
    sends: &str,
    expects: &str,
    body: impl Fn(&mut Session) -> Result<Verdict, Error> + Send + Sync + 'static,
) -> Check {
    Check::in_family(Family::Extensions, id, spec, sends, expects, body)
        .gated(move |s| listed(s, extension))
        .with_presence()
}

/// hmac-secret's getAssertion input for `salts` under protocol `p`, and the
/// shared secret to open the output with.
fn hmac_input(
    s: &mut Session,
    p: Protocol,
    salts: &[u8],
    corrupt_auth: bool,
) -> Result<(Value, pin::Shared), Error> {
    let (platform, shared) = pin::key_agreement(s, p)?;
    let salt_enc = shared.encrypt(salts)?;
    let mut salt_auth = shared.authenticate(&salt_enc);
    if corrupt_auth && let Some(b) = salt_auth.first_mut() {
        *b ^= 1;
    }
    let input = Value::Map(vec![
        (int(1), platform),
        (int(2), Value::Bytes(salt_enc)),
        (int(3), Value::Bytes(salt_auth)),
        (int(4), int(p.number())),
    ]);
    Ok((input, shared))
}

/// getAssertion naming `credential` with hmac-secret over `salts`: the
/// decrypted output, or the status.
fn hmac_secret(
    s: &mut Session,
    p: Protocol,
    credential: &[u8],
    salts: &[u8],
) -> Result<Result<Vec<u8>, u8>, Error> {
    let (input, shared) = hmac_input(s, p, salts, false)?;
    let mut req = GetAssertionRequest::new(RP_ID, random32()?);
    req.allow_list = vec![credential.to_vec()];
    req.extra
        .push((int(4), text_map(vec![("hmac-secret", input)])));
    let a = match s.ctap2()?.get_assertion(&req) {
        Ok(a) => a,
        Err(Error::Ctap(st)) => return Ok(Err(st)),
        Err(e) => return Err(e),
    };
    match output(&a.auth_data.extensions, "hmac-secret") {
        Some(Value::Bytes(enc)) => Ok(Ok(shared.decrypt(&enc)?)),
        other => Err(Error::verify(format!("hmac-secret output {other:?}"))),
    }
}

fn protocols(s: &mut Session) -> Result<Vec<Protocol>, Error> {
    let listed = s.info()?.pin_uv_auth_protocols;
    Ok([Protocol::One, Protocol::Two]
        .into_iter()
        .filter(|p| listed.contains(&(p.number() as u64)))
        .collect())
}

fn non_destructive() -> Vec<Check> {
    let mut checks = vec![
        Check::new(
            "extensions.unknown-ignored",
            Family::Extensions,
            "CTAP 2.1 §6.1.2 step 13 (unknown extensions are ignored)",
            "makeCredential with an extension \"conformanceUnknown\"",
            "a credential, and no output for it",
            |s| {
                let made = make(s, vec![("conformanceUnknown", Value::Bool(true))])?;
                let extensions = made.map(|a| a.auth_data.extensions);
                Ok(expect_output(extensions, "conformanceUnknown", None))
            },
        )
        .with_presence(),
        ext_check(
            "cred-protect-output",
            "credProtect",
            "CTAP 2.1 §12.1 (the output names the level)",
            "makeCredential with credProtect 2",
            "authData extensions {credProtect: 2}",
            |s| {
                let made = make(s, vec![("credProtect", int(2))])?;
                let extensions = made.map(|a| a.auth_data.extensions);
                Ok(expect_output(extensions, "credProtect", Some(int(2))))
            },
        ),
        ext_check(
            "cred-protect-3-needs-uv",
            "credProtect",
            "CTAP 2.1 §12.1 (userVerificationRequired: invisible without UV, even when listed)",
            "a credProtect 3 credential, then a getAssertion naming it without UV",
            "0x2E CTAP2_ERR_NO_CREDENTIALS",
            |s| {
                let made = made!(s, vec![("credProtect", int(3))]);
                Ok(refused(
                    get_assertion(s, RP_ID, &[made.credential_id().to_vec()], None, None)?,
                    status::NO_CREDENTIALS,
                ))
            },
        ),
        ext_check(
            "cred-protect-text",
            "credProtect",
            "CTAP 2.1 §12.1 (the input is an unsigned integer); §8.2",
            "makeCredential with credProtect \"2\"",
            "0x11 CTAP2_ERR_CBOR_UNEXPECTED_TYPE",
            |s| {
                Ok(expect_status(
                    status_of(make(s, vec![("credProtect", text("2"))])?),
                    &[status::CBOR_UNEXPECTED_TYPE],
                ))
            },
        ),
        ext_check(
            "hmac-secret-mc",
            "hmac-secret",
            "CTAP 2.1 §12.5 (makeCredential: hmac-secret true)",
            "makeCredential with hmac-secret true",
            "authData extensions {hmac-secret: true}",
            |s| {
                let made = make(s, vec![("hmac-secret", Value::Bool(true))])?;
                let extensions = made.map(|a| a.auth_data.extensions);
                Ok(expect_output(
                    extensions,
                    "hmac-secret",
                    Some(Value::Bool(true)),
                ))
            },
        ),
        ext_check(
            "hmac-secret-ga-bool",
            "hmac-secret",
            "CTAP 2.1 §12.5 (the getAssertion input is a map); §8.2",
            "getAssertion with hmac-secret true",
            "0x11 CTAP2_ERR_CBOR_UNEXPECTED_TYPE",
            |s| {
                let made = made!(s, vec![("hmac-secret", Value::Bool(true))]);
                Ok(refused(
                    get_assertion(
                        s,
                        RP_ID,
                        &[made.credential_id().to_vec()],
                        None,
                        Some(text_map(vec![("hmac-secret", Value::Bool(true))])),
                    )?,
                    status::CBOR_UNEXPECTED_TYPE,
                ))
            },
        ),
        ext_check(
            "min-pin-length-unlisted-rp",
            "minPinLength",
            "CTAP 2.1 §12.4 (the output only for RPs on the minPINLength list)",
            "makeCredential with minPinLength true for an RP not on the list",
            "no minPinLength output",
            |s| {
                let made = make(s, vec![("minPinLength", Value::Bool(true))])?;
                let extensions = made.map(|a| a.auth_data.extensions);
                Ok(expect_output(extensions, "minPinLength", None))
            },
        ),
        ext_check(
            "third-party-payment",
            "thirdPartyPayment",
            "CTAP 2.2 §12.9 (kept with the credential; asked for, the output is true)",
            "makeCredential with thirdPartyPayment true, then getAssertion asking for it",
            "authData extensions {thirdPartyPayment: true}",
            |s| {
                let made = made!(s, vec![("thirdPartyPayment", Value::Bool(true))]);
                let asked = text_map(vec![("thirdPartyPayment", Value::Bool(true))]);
                let id = [made.credential_id().to_vec()];
                let answer = get_assertion(s, RP_ID, &id, None, Some(asked))?;
                let extensions = answer.map(|a| a.auth_data.extensions);
                Ok(expect_output(
                    extensions,
                    "thirdPartyPayment",
                    Some(Value::Bool(true)),
                ))
            },
        ),
    ];
    for p in [Protocol::One, Protocol::Two] {
        checks.push(ext_check(&format!("hmac-secret-{}", p.name()), "hmac-secret", "CTAP 2.1 §12.5 (one salt: HMAC-SHA-256(CredRandom, salt), encrypted; the same salt gives the same output)", "two getAssertions with the same salt", "32 bytes, the same both times", move |s| {
            if !protocols(s)?.contains(&p) {
                return Ok(Verdict::NotApplicable(format!("getInfo pinUvAuthProtocols lack {}", p.number())));
            }
            let made = made!(s, vec![("hmac-secret", Value::Bool(true))]);
            let salt = random32()?;
            let first = hmac_secret(s, p, made.credential_id(), &salt)?;
            let second = hmac_secret(s, p, made.credential_id(), &salt)?;
            Ok(match (first, second) {
                (Ok(a), Ok(b)) if a.len() == 32 && a == b => Verdict::Pass("32 bytes, stable".into()),
                (Ok(a), Ok(b)) => Verdict::Fail(format!("{} and {} bytes, equal {}", a.len(), b.len(), a == b)),
                (Err(st), _) | (_, Err(st)) => Verdict::Fail(status_text(st)),
            })
        }));
    }
    checks.push(ext_check(
        "hmac-secret-two-salts",
        "hmac-secret",
        "CTAP 2.1 §12.5 (two salts: both outputs)",
        "getAssertion with salt1 alone, then with salt1 ‖ salt2",
        "64 bytes whose first half is salt1's output",
        |s| {
            let p = pin::preferred_protocol(s)?;
            let made = made!(s, vec![("hmac-secret", Value::Bool(true))]);
            let (salt1, salt2) = (random32()?, random32()?);
            let one = hmac_secret(s, p, made.credential_id(), &salt1)?;
            let two = hmac_secret(s, p, made.credential_id(), &[salt1, salt2].concat())?;
            Ok(match (one, two) {
                (Ok(a), Ok(b))
                    if b.len() == 64
                        && b.get(..32) == Some(a.as_slice())
                        && b.get(32..) != Some(a.as_slice()) =>
                {
                    Verdict::Pass("64 bytes".into())
                }
                (Ok(_), Ok(b)) => {
                    Verdict::Fail(format!("{} bytes, or halves that do not match", b.len()))
                }
                (Err(st), _) | (_, Err(st)) => Verdict::Fail(status_text(st)),
            })
        },
    ));
    checks.push(ext_check(
        "hmac-secret-bad-salt-auth",
        "hmac-secret",
        "CTAP 2.1 §12.5 (saltAuth must verify: CTAP2_ERR_PIN_AUTH_INVALID)",
        "getAssertion with hmac-secret whose saltAuth is wrong",
        "0x33 CTAP2_ERR_PIN_AUTH_INVALID",
        |s| {
            let p = pin::preferred_protocol(s)?;
            let made = made!(s, vec![("hmac-secret", Value::Bool(true))]);
            let (input, _) = hmac_input(s, p, &random32()?, true)?;
            Ok(refused(
                get_assertion(
                    s,
                    RP_ID,
                    &[made.credential_id().to_vec()],
                    None,
                    Some(text_map(vec![("hmac-secret", input)])),
                )?,
                status::PIN_AUTH_INVALID,
            ))
        },
    ));
    checks
}

fn status_of(r: Result<Attestation, u8>) -> u8 {
    r.map_or_else(|st| st, |_| status::SUCCESS)
}

/// A destructive check on a discoverable credential made with `extensions`.
fn rk_check(
    id: &str,
    extension: &'static str,
    spec: &str,
    sends: &str,
    expects: &str,
    extensions: Value,
    judge: impl Fn(&mut Session, &Attestation, &[u8], &str) -> Result<Verdict, Error>
    + Send
    + Sync
    + 'static,
) -> Check {
    let rp = format!("{id}.ext.conformance.softkey.example");
    ext_check(id, extension, spec, sends, expects, move |s| {
        let t = match token(s, MAKE_CREDENTIAL | GET_ASSERTION, Some(&rp))? {
            Ok(t) => t,
            Err(verdict) => return Ok(verdict),
        };
        match make_discoverable(s, &t, &rp, b"ext-user", "ext", Some(extensions.clone()))? {
            Ok(a) => judge(s, &a, &t, &rp),
            Err(st) => Ok(Verdict::Fail(format!(
                "makeCredential: {}",
                status_text(st)
            ))),
        }
    })
    .destructive()
}

fn destructive() -> Vec<Check> {
    let blob = vec![0xC3; 16];
    let blob_again = blob.clone();
    vec![
        rk_check(
            "cred-blob",
            "credBlob",
            "CTAP 2.1 §12.2 (stored with a discoverable credential; getAssertion returns it)",
            "makeCredential rk with a 16-byte credBlob, then getAssertion asking for it",
            "output true; the same 16 bytes back",
            text_map(vec![("credBlob", Value::Bytes(blob))]),
            move |s, a, _, rp| {
                let at_creation = expect_output(
                    Ok(a.auth_data.extensions.clone()),
                    "credBlob",
                    Some(Value::Bool(true)),
                );
                if let Verdict::Fail(why) = at_creation {
                    return Ok(Verdict::Fail(format!("makeCredential: {why}")));
                }
                let asked = text_map(vec![("credBlob", Value::Bool(true))]);
                let id = [a.credential_id().to_vec()];
                let answer = get_assertion(s, rp, &id, None, Some(asked))?;
                let extensions = answer.map(|g| g.auth_data.extensions);
                Ok(expect_output(
                    extensions,
                    "credBlob",
                    Some(Value::Bytes(blob_again.clone())),
                ))
            },
        ),
        rk_check(
            "cred-blob-too-long",
            "credBlob",
            "CTAP 2.1 §12.2 (longer than maxCredBlobLength: not stored, output false)",
            "makeCredential rk with a 100-byte credBlob",
            "output false",
            text_map(vec![("credBlob", Value::Bytes(vec![0xD4; 100]))]),
            |_, a, _, _| {
                Ok(expect_output(
                    Ok(a.auth_data.extensions.clone()),
                    "credBlob",
                    Some(Value::Bool(false)),
                ))
            },
        ),
        rk_check(
            "large-blob-key",
            "largeBlobKey",
            "CTAP 2.1 §12.3 (a 32-byte key in makeCredential's response, the same in getAssertion's)",
            "makeCredential rk with largeBlobKey true, then getAssertion asking for it",
            "the same 32-byte key both times",
            text_map(vec![("largeBlobKey", Value::Bool(true))]),
            |s, a, _, rp| {
                let Some(made) = a.large_blob_key.clone() else {
                    return Ok(Verdict::Fail(
                        "no largeBlobKey in the makeCredential response".into(),
                    ));
                };
                Ok(
                    match get_assertion(
                        s,
                        rp,
                        &[a.credential_id().to_vec()],
                        None,
                        Some(text_map(vec![("largeBlobKey", Value::Bool(true))])),
                    )? {
                        Ok(g) if made.len() == 32 && g.large_blob_key.as_ref() == Some(&made) => {
                            Verdict::Pass("32 bytes, the same".into())
                        }
                        Ok(g) => Verdict::Fail(format!(
                            "{} bytes, then {:?}",
                            made.len(),
                            g.large_blob_key.map(|k| k.len())
                        )),
                        Err(st) => Verdict::Fail(status_text(st)),
                    },
                )
            },
        ),
        rk_check(
            "cred-protect-3-with-uv",
            "credProtect",
            "CTAP 2.1 §12.1 (userVerificationRequired: found with UV)",
            "a discoverable credProtect 3 credential, then getAssertion with a token",
            "the credential, UV set",
            text_map(vec![("credProtect", int(3))]),
            |s, a, _, rp| {
                // makeCredential used up the token's mc and ga: a fresh one.
                let t = match token(s, GET_ASSERTION, Some(rp))? {
                    Ok(t) => t,
                    Err(verdict) => return Ok(verdict),
                };
                Ok(match get_assertion(s, rp, &[], Some(&t), None)? {
                    Ok(g) if g.credential_id == a.credential_id() => {
                        Verdict::Pass("found with UV".into())
                    }
                    Ok(_) => Verdict::Fail("another credential".into()),
                    Err(st) => Verdict::Fail(status_text(st)),
                })
            },
        ),
        rk_check(
            "cred-protect-2-usernameless",
            "credProtect",
            "CTAP 2.1 §12.1 (userVerificationOptionalWithCredentialIDList: not found without UV and without an allowList)",
            "a discoverable credProtect 2 credential, then a getAssertion with no allowList and no UV",
            "0x2E CTAP2_ERR_NO_CREDENTIALS",
            text_map(vec![("credProtect", int(2))]),
            |s, _, _, rp| {
                Ok(refused(
                    get_assertion(s, rp, &[], None, None)?,
                    status::NO_CREDENTIALS,
                ))
            },
        ),
    ]
}

pub fn checks() -> Vec<Check> {
    let mut checks = non_destructive();
    checks.extend(destructive());
    checks
}
