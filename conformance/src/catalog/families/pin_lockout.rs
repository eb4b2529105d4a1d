//! The PIN's retry limits (CTAP 2.1 §6.5.2, §6.5.5.7.2 steps 5–8), the last
//! destructive checks of a run: three wrong PINs in a row block PIN entry
//! until a power cycle; pinRetries at zero block the PIN for good, until an
//! authenticatorReset, which ends the run with a key as the reset leaves it.

use super::common::status_text;
use super::reset::reset_after_power_cycle;
use super::verified::ready;
use crate::Error;
use crate::catalog::pin::{self, Protocol};
use crate::catalog::{Check, Family, Session, Verdict};
use crate::ctap2::status;

const WRONG: &str = "000000";

fn token_status(s: &mut Session, pin_text: &str) -> Result<u8, Error> {
    Ok(match pin::pin_token(s, Protocol::Two, pin_text, None)? {
        Ok(_) => status::SUCCESS,
        Err(st) => st,
    })
}

pub fn checks() -> Vec<Check> {
    vec![
        Check::new(
            "pin-lockout.three-in-a-row",
            Family::PinLockout,
            "CTAP 2.1 §6.5.5.7.2 step 8 (after 3 consecutive mismatches: CTAP2_ERR_PIN_AUTH_BLOCKED until a power cycle)",
            "three wrong PINs, the right PIN, a power cycle, the right PIN",
            "0x31, 0x31, 0x34; 0x34 for the right PIN; after the power cycle 0x00",
            |s| {
                let pin_now = match ready(s)? {
                    Ok(p) => p,
                    Err(verdict) => return Ok(verdict),
                };
                let mut seen = Vec::new();
                for _ in 0..3 {
                    seen.push(token_status(s, WRONG)?);
                }
                seen.push(token_status(s, &pin_now)?);
                s.power_cycle();
                seen.push(token_status(s, &pin_now)?);
                let want = [status::PIN_INVALID, status::PIN_INVALID, status::PIN_AUTH_BLOCKED, status::PIN_AUTH_BLOCKED, status::SUCCESS];
                let text: Vec<String> = seen.iter().map(|st| format!("0x{st:02X}")).collect();
                Ok(if seen == want {
                    Verdict::Pass(text.join(", "))
                } else {
                    Verdict::Fail(format!("answered {}", text.join(", ")))
                })
            },
        )
        .destructive(),
        Check::new(
            "pin-lockout.blocked",
            Family::PinLockout,
            "CTAP 2.1 §6.5.5.7.2 steps 5 and 7 (pinRetries at 0: CTAP2_ERR_PIN_BLOCKED, even for the right PIN); §6.6 (reset clears it)",
            "wrong PINs (a power cycle after every third) until pinRetries is 0, the right PIN, then authenticatorReset",
            "0x32 CTAP2_ERR_PIN_BLOCKED at the end and for the right PIN; after a touch the reset clears the PIN",
            |s| {
                let pin_now = match ready(s)? {
                    Ok(p) => p,
                    Err(verdict) => return Ok(verdict),
                };
                let mut last = status::SUCCESS;
                for attempt in 1..=8u32 {
                    last = token_status(s, WRONG)?;
                    if last == status::PIN_BLOCKED {
                        break;
                    }
                    if attempt % 3 == 0 || last == status::PIN_AUTH_BLOCKED {
                        s.power_cycle();
                    }
                }
                let retries = pin::pin_retries(s, Protocol::Two)?;
                let right = token_status(s, &pin_now)?;
                let reset = reset_after_power_cycle(s)?.unwrap_or(status::OTHER);
                let cleared = s.info()?.option("clientPin") == Some(false);
                Ok(
                    if last == status::PIN_BLOCKED && right == status::PIN_BLOCKED && reset == 0 && cleared {
                        Verdict::Pass(format!(
                            "blocked (pinRetries {}); reset cleared it",
                            retries.map_or_else(status_text, |n| n.to_string())
                        ))
                    } else {
                        Verdict::Fail(format!(
                            "last wrong PIN {}, right PIN {}, reset {}, clientPin cleared {cleared}",
                            status_text(last),
                            status_text(right),
                            status_text(reset)
                        ))
                    },
                )
            },
        )
        .with_presence()
        .destructive(),
    ]
}
