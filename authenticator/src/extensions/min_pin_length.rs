//! minPinLength (CTAP 2.1 §12.4): makeCredential returns the current
//! minPINLength, but only to RPs in minPinLengthRPIDs (set by
//! authenticatorConfig setMinPINLength) — others get no output at all.

use crate::cbor::Value;
use crate::pin::DeviceSettings;

pub(crate) fn output(requested: bool, rp_id: &str, config: &DeviceSettings) -> Option<Value> {
    (requested && config.min_pin_length_rp_ids.iter().any(|r| r == rp_id))
        .then(|| Value::Unsigned(u64::from(config.min_pin_length)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_for_listed_rps_and_only_when_asked() {
        let config = DeviceSettings {
            min_pin_length: 6,
            min_pin_length_rp_ids: vec!["ok.example".into()],
            ..DeviceSettings::default()
        };
        assert_eq!(
            output(true, "ok.example", &config),
            Some(Value::Unsigned(6))
        );
        assert_eq!(output(true, "other.example", &config), None);
        assert_eq!(output(false, "ok.example", &config), None);
    }
}
