//! Discoverable credentials (CTAP 2.1 §6.1.2 steps 6 and 17, §6.2.2 steps
//! 7 and 12, §6.3): made with a PIN token, found without an allowList,
//! newest first, one per user and RP. Destructive: they stay on the key
//! until the run's last reset.

use super::common::{expect_status, refused, status_text};
use super::verified::{get_assertion, get_next, make_discoverable, ready, token};
use crate::Error;
use crate::catalog::pin::permission::{GET_ASSERTION, MAKE_CREDENTIAL};
use crate::catalog::{Check, Family, Session, Verdict};
use crate::ctap2::{MakeCredentialRequest, command, status};

/// Each check its own RP, so their credentials do not meet.
fn rp(id: &str) -> String {
    format!("{id}.rk.conformance.softkey.example")
}

fn check(
    id: &'static str,
    spec: &str,
    sends: &str,
    expects: &str,
    body: impl Fn(&mut Session, &str) -> Result<Verdict, Error> + Send + Sync + 'static,
) -> Check {
    Check::in_family(Family::Resident, id, spec, sends, expects, move |s| {
        if s.info()?.option("rk") != Some(true) {
            return Ok(Verdict::NotApplicable(
                "getInfo options says rk is not true".into(),
            ));
        }
        let rp_id = rp(id);
        // Each credential is made with a fresh token (make!).
        match ready(s)? {
            Err(verdict) => Ok(verdict),
            Ok(_) => body(s, &rp_id),
        }
    })
    .with_presence()
    .destructive()
}

/// Makes a discoverable credential with a fresh token (a token's mc use
/// is spent by one makeCredential) and credProtect 1 where the key has the
/// extension (so a key's own default level cannot hide it from a request
/// without UV), failing the check if it cannot.
macro_rules! make {
    ($s:expr, $rp:expr, $user:expr, $name:expr) => {{
        let fresh = match token($s, MAKE_CREDENTIAL, Some($rp))? {
            Ok(t) => t,
            Err(verdict) => return Ok(verdict),
        };
        let level_one = $s
            .info()?
            .extensions
            .iter()
            .any(|e| e == "credProtect")
            .then(|| super::common::text_map(vec![("credProtect", crate::ctap2::cbor::int(1))]));
        match make_discoverable($s, &fresh, $rp, $user, $name, level_one)? {
            Ok(a) => a,
            Err(st) => {
                return Ok(Verdict::Fail(format!(
                    "makeCredential: {}",
                    status_text(st)
                )));
            }
        }
    }};
}

pub fn checks() -> Vec<Check> {
    vec![
        check(
            "found-without-allow-list",
            "CTAP 2.1 §6.2.2 step 7 (no allowList: the RP's discoverable credentials)",
            "a discoverable credential, then a getAssertion with no allowList",
            "that credential, with its user id",
            |s, rp| {
                let made = make!(s, rp, b"user-1", "one");
                Ok(match get_assertion(s, rp, &[], None, None)? {
                    Ok(a)
                        if a.credential_id == made.credential_id()
                            && a.user.as_ref().is_some_and(|u| u.id == b"user-1") =>
                    {
                        Verdict::Pass("found, user id returned".into())
                    }
                    Ok(a) => Verdict::Fail(format!(
                        "another credential or user: user {:?}",
                        a.user.map(|u| u.id)
                    )),
                    Err(st) => Verdict::Fail(status_text(st)),
                })
            },
        ),
        check(
            "names-only-with-uv",
            "CTAP 2.1 §6.2.2 step 12 (user name and displayName only when the user was verified)",
            "getAssertion without and then with a token",
            "no name without UV; name and displayName with it",
            |s, rp| {
                make!(s, rp, b"user-1", "named");
                let plain = get_assertion(s, rp, &[], None, None)?;
                // makeCredential used up the token's mc and ga: a fresh one.
                let fresh = match token(s, GET_ASSERTION, Some(rp))? {
                    Ok(t) => t,
                    Err(verdict) => return Ok(verdict),
                };
                let verified = get_assertion(s, rp, &[], Some(&fresh), None)?;
                Ok(match (plain, verified) {
                    (Ok(p), Ok(v)) => {
                        let hidden = p
                            .user
                            .as_ref()
                            .is_some_and(|u| u.name.is_none() && u.display_name.is_none());
                        let shown = v
                            .user
                            .as_ref()
                            .is_some_and(|u| u.name.as_deref() == Some("named"));
                        if hidden && shown {
                            Verdict::Pass("hidden, then shown".into())
                        } else {
                            Verdict::Fail(format!("without UV {:?}, with UV {:?}", p.user, v.user))
                        }
                    }
                    (Err(st), _) | (_, Err(st)) => Verdict::Fail(status_text(st)),
                })
            },
        ),
        check(
            "newest-first",
            "CTAP 2.1 §6.2.2 step 7 (most recently created first), §6.3 (getNextAssertion)",
            "two users' credentials, getAssertion, getNextAssertion",
            "numberOfCredentials 2; the newer first, the older next",
            |s, rp| {
                let older = make!(s, rp, b"user-1", "older");
                let newer = make!(s, rp, b"user-2", "newer");
                let first = match get_assertion(s, rp, &[], None, None)? {
                    Ok(a) => a,
                    Err(st) => return Ok(Verdict::Fail(status_text(st))),
                };
                let next = match get_next(s)? {
                    Ok(a) => a,
                    Err(st) => {
                        return Ok(Verdict::Fail(format!(
                            "getNextAssertion: {}",
                            status_text(st)
                        )));
                    }
                };
                Ok(
                    if first.number_of_credentials == Some(2)
                        && first.credential_id == newer.credential_id()
                        && next.credential_id == older.credential_id()
                    {
                        Verdict::Pass("2; newer, then older".into())
                    } else {
                        Verdict::Fail(format!(
                            "numberOfCredentials {:?}; order wrong",
                            first.number_of_credentials
                        ))
                    },
                )
            },
        ),
        check(
            "next-after-the-last",
            "CTAP 2.1 §6.3 step 2 (no credentials left: CTAP2_ERR_NOT_ALLOWED)",
            "one credential, getAssertion, getNextAssertion",
            "0x30 CTAP2_ERR_NOT_ALLOWED",
            |s, rp| {
                make!(s, rp, b"user-1", "only");
                if let Err(st) = get_assertion(s, rp, &[], None, None)? {
                    return Ok(Verdict::Fail(status_text(st)));
                }
                Ok(refused(get_next(s)?, status::NOT_ALLOWED))
            },
        ),
        check(
            "same-user-replaces",
            "CTAP 2.1 §6.1.2 step 17 (the same RP and user id: the old credential is overwritten)",
            "two credentials for the same user",
            "only the second answers",
            |s, rp| {
                let first = make!(s, rp, b"user-1", "first");
                let second = make!(s, rp, b"user-1", "second");
                let old = get_assertion(s, rp, &[first.credential_id().to_vec()], None, None)?;
                let all = get_assertion(s, rp, &[], None, None)?;
                Ok(match (old, all) {
                    (Err(status::NO_CREDENTIALS), Ok(a))
                        if a.credential_id == second.credential_id()
                            && a.number_of_credentials.unwrap_or(1) == 1 =>
                    {
                        Verdict::Pass("replaced".into())
                    }
                    (old, all) => Verdict::Fail(format!(
                        "old credential: {:?}; usernameless: {:?}",
                        old.map(|a| a.credential_id.len()),
                        all.map(|a| a.number_of_credentials)
                    )),
                })
            },
        ),
        check(
            "found-by-allow-list",
            "CTAP 2.1 §6.2.2 steps 7 and 12",
            "a getAssertion naming the discoverable credential",
            "the credential, with its user id",
            |s, rp| {
                let made = make!(s, rp, b"user-1", "listed");
                Ok(
                    match get_assertion(s, rp, &[made.credential_id().to_vec()], None, None)? {
                        Ok(a) if a.user.as_ref().is_some_and(|u| u.id == b"user-1") => {
                            Verdict::Pass("found with its user".into())
                        }
                        Ok(_) => Verdict::Fail("no user id".into()),
                        Err(st) => Verdict::Fail(status_text(st)),
                    },
                )
            },
        ),
        check(
            "other-rp",
            "CTAP 2.1 §6.2.2 step 7",
            "a discoverable credential, then a getAssertion for another RP",
            "0x2E CTAP2_ERR_NO_CREDENTIALS",
            |s, rp| {
                make!(s, rp, b"user-1", "mine");
                Ok(
                    match get_assertion(s, &format!("other.{rp}"), &[], None, None)? {
                        Ok(_) => Verdict::Fail("another RP's credential answered".into()),
                        Err(st) => expect_status(st, &[status::NO_CREDENTIALS]),
                    },
                )
            },
        ),
        check(
            "needs-uv-with-pin",
            "CTAP 2.1 §6.1.2 step 6 (makeCredUvNotRqd: with a PIN, discoverable credentials need verification)",
            "makeCredential rk without a pinUvAuthParam, on a key with a PIN",
            "0x36 CTAP2_ERR_PUAT_REQUIRED",
            |s, rp| {
                let mut cdh = [0u8; 32];
                crate::bytes::random_bytes(&mut cdh)?;
                let mut req = MakeCredentialRequest::new(cdh, rp, b"user-1");
                req.rk = Some(true);
                let params = crate::ctap2::cbor::decode_canonical(&req.encode())?;
                Ok(expect_status(
                    s.send(command::MAKE_CREDENTIAL, Some(&params))?.0,
                    &[status::PIN_REQUIRED],
                ))
            },
        ),
        check(
            "remaining-count",
            "CTAP 2.1 §6.4 (remainingDiscoverableCredentials)",
            "getInfo before and after a new discoverable credential",
            "one fewer remaining, if the key says",
            |s, rp| {
                s.forget_info();
                let Some(before) = remaining(s)? else {
                    return Ok(Verdict::NotApplicable(
                        "getInfo has no remainingDiscoverableCredentials".into(),
                    ));
                };
                make!(s, rp, b"user-9", "counted");
                s.forget_info();
                let after = remaining(s)?.unwrap_or(before);
                Ok(if after + 1 == before {
                    Verdict::Pass(format!("{before} → {after}"))
                } else {
                    Verdict::Fail(format!("{before} → {after}"))
                })
            },
        ),
    ]
}

fn remaining(s: &mut Session) -> Result<Option<u64>, Error> {
    let info = s.info()?;
    let m = crate::ctap2::cbor::MapView::new(&info.raw, "getInfo")?;
    m.get_int(0x14)
        .map(|v| crate::ctap2::cbor::as_uint(v, "remainingDiscoverableCredentials"))
        .transpose()
}
