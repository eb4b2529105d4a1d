//! authenticatorConfig (CTAP 2.1 §6.11): toggleAlwaysUv and
//! setMinPINLength with an acfg token over `32×0xff ‖ 0x0d ‖
//! uint8(subCommand) ‖ subCommandParams`, and the refusals. Destructive.

use super::common::{expect_status, status_text};
use super::verified::token;
use crate::Error;
use crate::catalog::pin::Protocol;
use crate::catalog::pin::permission::{AUTHENTICATOR_CONFIG, MAKE_CREDENTIAL};
use crate::catalog::{Check, Family, Session, Verdict};
use crate::ctap2::cbor::{MapView, Value, as_uint, encode, int};
use crate::ctap2::{command, status};

const TOGGLE_ALWAYS_UV: u8 = 0x02;
const SET_MIN_PIN_LENGTH: u8 = 0x03;

/// An authenticatorConfig request, authorised by `token` when given.
fn config(
    s: &mut Session,
    sub_command: u8,
    params: Option<Value>,
    token: Option<&[u8]>,
) -> Result<u8, Error> {
    let mut pairs = vec![(int(1), int(i64::from(sub_command)))];
    let mut message = vec![0xFF; 32];
    message.extend_from_slice(&[0x0D, sub_command]);
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
    Ok(s.send(command::CONFIG, Some(&Value::Map(pairs)))?.0)
}

fn check(
    id: &str,
    spec: &str,
    sends: &str,
    expects: &str,
    body: impl Fn(&mut Session, &[u8]) -> Result<Verdict, Error> + Send + Sync + 'static,
) -> Check {
    Check::in_family(Family::Config, id, spec, sends, expects, move |s| {
        if s.info()?.option("authnrCfg") != Some(true) {
            return Ok(Verdict::NotApplicable(
                "getInfo options says authnrCfg is not true".into(),
            ));
        }
        match token(s, AUTHENTICATOR_CONFIG, None)? {
            Err(verdict) => Ok(verdict),
            Ok(t) => body(s, &t),
        }
    })
    .destructive()
}

fn min_pin_length(s: &mut Session) -> Result<u64, Error> {
    s.forget_info();
    let info = s.info()?;
    let m = MapView::new(&info.raw, "getInfo")?;
    Ok(m.get_int(0x0D)
        .map(|v| as_uint(v, "minPINLength"))
        .transpose()?
        .unwrap_or(4))
}

pub fn checks() -> Vec<Check> {
    vec![
        check(
            "toggle-always-uv",
            "CTAP 2.1 §6.11.2 toggleAlwaysUv; §7.2.3",
            "toggleAlwaysUv twice",
            "getInfo alwaysUv flips, then flips back",
            |s, t| {
                let before = s.info()?.option("alwaysUv");
                let first = config(s, TOGGLE_ALWAYS_UV, None, Some(t))?;
                s.forget_info();
                let flipped = s.info()?.option("alwaysUv");
                // A used token stays good for acfg; take a fresh one to be sure.
                let again = match token(s, AUTHENTICATOR_CONFIG, None)? {
                    Ok(t2) => config(s, TOGGLE_ALWAYS_UV, None, Some(&t2))?,
                    Err(verdict) => return Ok(verdict),
                };
                s.forget_info();
                let back = s.info()?.option("alwaysUv");
                Ok(
                    if first == 0 && again == 0 && flipped != before && back == before {
                        Verdict::Pass(format!("{before:?} → {flipped:?} → {back:?}"))
                    } else {
                        Verdict::Fail(format!(
                            "{} / {}; alwaysUv {before:?} → {flipped:?} → {back:?}",
                            status_text(first),
                            status_text(again)
                        ))
                    },
                )
            },
        ),
        check(
            "set-min-pin-length",
            "CTAP 2.1 §6.11.4 setMinPINLength",
            "setMinPINLength to the current length, or 6",
            "getInfo minPINLength says it",
            |s, t| {
                let current = min_pin_length(s)?;
                let want = current.max(6);
                let st = config(
                    s,
                    SET_MIN_PIN_LENGTH,
                    Some(Value::Map(vec![(int(1), int(want as i64))])),
                    Some(t),
                )?;
                let now = min_pin_length(s)?;
                Ok(if st == 0 && now == want {
                    Verdict::Pass(format!("{current} → {now}"))
                } else {
                    Verdict::Fail(format!("{}; minPINLength {now}", status_text(st)))
                })
            },
        ),
        check(
            "min-pin-length-cannot-shrink",
            "CTAP 2.1 §6.11.4 step 3 (a shorter minimum: CTAP2_ERR_PIN_POLICY_VIOLATION)",
            "setMinPINLength below the current one",
            "0x37 CTAP2_ERR_PIN_POLICY_VIOLATION",
            |s, t| {
                let current = min_pin_length(s)?;
                if current <= 4 {
                    let raised = config(
                        s,
                        SET_MIN_PIN_LENGTH,
                        Some(Value::Map(vec![(int(1), int(5))])),
                        Some(t),
                    )?;
                    if raised != 0 {
                        return Ok(Verdict::Fail(format!(
                            "raising to 5: {}",
                            status_text(raised)
                        )));
                    }
                }
                let fresh = match token(s, AUTHENTICATOR_CONFIG, None)? {
                    Ok(t2) => t2,
                    Err(verdict) => return Ok(verdict),
                };
                Ok(expect_status(
                    config(
                        s,
                        SET_MIN_PIN_LENGTH,
                        Some(Value::Map(vec![(int(1), int(4))])),
                        Some(&fresh),
                    )?,
                    &[status::PIN_POLICY_VIOLATION],
                ))
            },
        ),
        check(
            "without-token",
            "CTAP 2.1 §6.11 step 4.1 (a key with a PIN: CTAP2_ERR_PUAT_REQUIRED)",
            "toggleAlwaysUv without pinUvAuthParam",
            "0x36 CTAP2_ERR_PUAT_REQUIRED",
            |s, _| {
                Ok(expect_status(
                    config(s, TOGGLE_ALWAYS_UV, None, None)?,
                    &[status::PIN_REQUIRED],
                ))
            },
        ),
        check(
            "bad-param",
            "CTAP 2.1 §6.11 step 4.4",
            "toggleAlwaysUv with a pinUvAuthParam of another token",
            "0x33 CTAP2_ERR_PIN_AUTH_INVALID",
            |s, _| {
                Ok(expect_status(
                    config(s, TOGGLE_ALWAYS_UV, None, Some(&[0x24; 32]))?,
                    &[status::PIN_AUTH_INVALID],
                ))
            },
        ),
        check(
            "token-without-acfg",
            "CTAP 2.1 §6.11 step 4.5 (the token needs acfg)",
            "toggleAlwaysUv with an mc token",
            "0x33 CTAP2_ERR_PIN_AUTH_INVALID",
            |s, _| {
                let mc = match token(
                    s,
                    MAKE_CREDENTIAL,
                    Some("config.conformance.softkey.example"),
                )? {
                    Ok(t) => t,
                    Err(verdict) => return Ok(verdict),
                };
                Ok(expect_status(
                    config(s, TOGGLE_ALWAYS_UV, None, Some(&mc))?,
                    &[status::PIN_AUTH_INVALID],
                ))
            },
        ),
        check(
            "unknown-subcommand",
            "CTAP 2.1 §6.11 step 2 (an unsupported subCommand: CTAP1_ERR_INVALID_PARAMETER)",
            "authenticatorConfig subCommand 0x20",
            "0x02 CTAP1_ERR_INVALID_PARAMETER",
            |s, t| {
                Ok(expect_status(
                    config(s, 0x20, None, Some(t))?,
                    &[status::INVALID_PARAMETER],
                ))
            },
        ),
    ]
}
