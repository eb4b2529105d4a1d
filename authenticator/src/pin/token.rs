//! The pinUvAuthToken and its state (CTAP 2.1 §6.5.2.1 "pinUvAuthToken
//! State"): one 32-byte random token per protocol, regenerated at power-up
//! and whenever a new token is issued (`resetPinUvAuthToken`), plus the
//! shared state: permissions, permissions RP ID, the usage timers and the
//! userPresent / userVerified flags.
//!
//! Timers (§6.5.2.1 `pinUvAuthTokenUsageTimerObserver`): a token not used
//! within the initial usage time limit (30 s, the USB value) stops being
//! usable; a token in use expires at the maximum usage time period (10
//! minutes) after it was issued. Expiry is applied lazily, on the next
//! look at the token, from the `Env::now` clock.
//!
//! The userPresent flag is always false for us: it can only become true
//! through built-in UV, which softkey does not have (tokens are issued by
//! getPinToken / getPinUvAuthTokenUsingPinWithPermissions with
//! `beginUsingPinUvAuthToken(userIsPresent: false)`).

use core::fmt;
use core::time::Duration;

use zeroize::Zeroizing;

use super::protocol::PinProtocol;
use crate::env::Env;

/// §6.5.2.1: pinUvAuthToken length is 32 bytes.
pub(crate) const TOKEN_LEN: usize = 32;
/// §6.5.2.1 "initial usage time limit": 30 s for USB.
pub(crate) const INITIAL_USAGE_TIME_LIMIT: Duration = Duration::from_secs(30);
/// §6.5.2.1 "max usage time period": 10 minutes.
pub(crate) const MAX_USAGE_TIME_PERIOD: Duration = Duration::from_secs(600);

/// Why a token cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenUnusable {
    /// No token was issued since power-up (or it was consumed or reset).
    NotInUse,
    /// It was issued and its timer ran out.
    Expired,
}

pub(crate) struct TokenState {
    /// One token per protocol, index [`PinProtocol::index`]; `None` until
    /// first generated.
    tokens: Option<[Zeroizing<[u8; TOKEN_LEN]>; 2]>,
    in_use: bool,
    expired: bool,
    permissions: u8,
    rp_id: Option<String>,
    user_verified: bool,
    /// `userPresent`: the token came from a gesture (built-in UV), which
    /// the next mc/ga takes as its test of presence.
    user_present: bool,
    issued_at: Duration,
    used: bool,
}

impl fmt::Debug for TokenState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenState")
            .field("in_use", &self.in_use)
            .field("permissions", &self.permissions)
            .field("rp_id", &self.rp_id)
            .finish_non_exhaustive()
    }
}

impl Default for TokenState {
    fn default() -> Self {
        TokenState {
            tokens: None,
            in_use: false,
            expired: false,
            permissions: 0,
            rp_id: None,
            user_verified: false,
            user_present: false,
            issued_at: Duration::ZERO,
            used: false,
        }
    }
}

impl TokenState {
    /// `resetPinUvAuthToken()` for every protocol: fresh random tokens,
    /// and the old state forgotten.
    pub(crate) fn reset<E: Env>(&mut self, env: &mut E) {
        let mut fresh = [
            Zeroizing::new([0u8; TOKEN_LEN]),
            Zeroizing::new([0u8; TOKEN_LEN]),
        ];
        for t in &mut fresh {
            env.fill_random(t.as_mut_slice());
        }
        self.tokens = Some(fresh);
        self.stop_using();
        self.expired = false;
    }

    /// The token bytes of `protocol`, generating tokens on first need.
    pub(crate) fn token<E: Env>(&mut self, env: &mut E, protocol: PinProtocol) -> &[u8; TOKEN_LEN] {
        if self.tokens.is_none() {
            self.reset(env);
        }
        const EMPTY: &[u8; TOKEN_LEN] = &[0; TOKEN_LEN];
        match &self.tokens {
            Some(tokens) => tokens.get(protocol.index()).map_or(EMPTY, |t| &**t),
            None => EMPTY,
        }
    }

    /// `beginUsingPinUvAuthToken(userIsPresent)` with the given
    /// permissions and optional permissions RP ID.
    pub(crate) fn begin_using(
        &mut self,
        now: Duration,
        user_present: bool,
        permissions: u8,
        rp_id: Option<String>,
    ) {
        self.in_use = true;
        self.expired = false;
        self.user_verified = true;
        self.user_present = user_present;
        self.permissions = permissions;
        self.rp_id = rp_id;
        self.issued_at = now;
        self.used = false;
    }

    /// `stopUsingPinUvAuthToken()`.
    pub(crate) fn stop_using(&mut self) {
        self.in_use = false;
        self.permissions = 0;
        self.rp_id = None;
        self.user_verified = false;
        self.used = false;
    }

    /// The usage timer observer, run before every use.
    pub(crate) fn observe(&mut self, now: Duration) {
        if !self.in_use {
            return;
        }
        let age = now.saturating_sub(self.issued_at);
        if (!self.used && age > INITIAL_USAGE_TIME_LIMIT) || age > MAX_USAGE_TIME_PERIOD {
            self.stop_using();
            self.expired = true;
        }
    }

    /// Whether the token can be used now.
    pub(crate) fn usable(&mut self, now: Duration) -> Result<(), TokenUnusable> {
        self.observe(now);
        match (self.in_use, self.expired) {
            (true, _) => Ok(()),
            (false, true) => Err(TokenUnusable::Expired),
            (false, false) => Err(TokenUnusable::NotInUse),
        }
    }

    /// Records a use (starts the rolling part of the timer rules).
    pub(crate) fn mark_used(&mut self) {
        self.used = true;
    }

    pub(crate) fn has_permission(&self, permission: u8) -> bool {
        self.in_use && self.permissions & permission != 0
    }

    pub(crate) fn permissions_rp_id(&self) -> Option<&str> {
        self.rp_id.as_deref()
    }

    pub(crate) fn bind_rp_id(&mut self, rp_id: &str) {
        self.rp_id = Some(rp_id.to_owned());
    }

    /// `getUserVerifiedFlagValue()`.
    pub(crate) fn user_verified(&self) -> bool {
        self.in_use && self.user_verified
    }

    /// `getUserPresentFlagValue()`.
    pub(crate) fn user_present(&self) -> bool {
        self.in_use && self.user_present
    }

    /// `clearUserPresentFlag()`, `clearUserVerifiedFlag()` and
    /// `clearPinUvAuthTokenPermissionsExceptLbw()` (§6.1.2 step 14 /
    /// §6.2.2 step 9 after a verified mc/ga).
    pub(crate) fn consume_for_mc_ga(&mut self) {
        self.user_present = false;
        self.user_verified = false;
        self.permissions &= super::Permission::LargeBlobWrite as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestEnv;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn reset_makes_new_distinct_tokens_per_protocol() {
        let mut env = TestEnv::new(1);
        let mut t = TokenState::default();
        let one = *t.token(&mut env, PinProtocol::One);
        let two = *t.token(&mut env, PinProtocol::Two);
        assert_ne!(one, two);
        t.reset(&mut env);
        assert_ne!(*t.token(&mut env, PinProtocol::One), one);
    }

    #[test]
    fn unused_token_expires_after_initial_limit() {
        let mut t = TokenState::default();
        assert_eq!(t.usable(S(0)), Err(TokenUnusable::NotInUse));
        t.begin_using(S(100), false, 0x03, None);
        assert_eq!(t.usable(S(130)), Ok(()));
        assert_eq!(t.usable(S(131)), Err(TokenUnusable::Expired));
        assert!(!t.has_permission(0x01));
    }

    #[test]
    fn used_token_lives_until_max_usage_period() {
        let mut t = TokenState::default();
        t.begin_using(S(0), false, 0x04, Some("x".into()));
        t.mark_used();
        assert_eq!(t.usable(S(599)), Ok(()));
        assert_eq!(t.permissions_rp_id(), Some("x"));
        assert_eq!(t.usable(S(601)), Err(TokenUnusable::Expired));
        assert_eq!(t.permissions_rp_id(), None);
    }

    #[test]
    fn consuming_keeps_only_lbw_and_clears_uv() {
        let mut t = TokenState::default();
        t.begin_using(S(0), true, 0x01 | 0x02 | 0x10, None);
        assert!(t.user_present());
        assert!(t.user_verified());
        t.consume_for_mc_ga();
        assert!(!t.user_verified());
        assert!(!t.user_present());
        assert!(!t.has_permission(0x01));
        assert!(!t.has_permission(0x02));
        assert!(t.has_permission(0x10));
    }
}
