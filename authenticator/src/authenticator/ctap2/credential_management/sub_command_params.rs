//! The exact bytes of `subCommandParams`, over which credential management
//! (CTAP 2.1 §6.8) and authenticatorConfig (§6.11.1) verify pinUvAuthParam.

use crate::cbor::{self, Value};

/// The bytes of `subCommandParams` exactly as the platform sent them, for
/// the pinUvAuthParam message of credential management (§6.8) and
/// authenticatorConfig (§6.11.1 step 4.4); empty when absent.
///
/// Re-encoding the decoded value reproduces the received bytes: our
/// decoder accepts only CTAP2 canonical CBOR of the types the encoder
/// writes (minimal heads, definite lengths, sorted unique keys), so for any
/// accepted input `encode(decode(x)) == x`. Non-canonical params are
/// refused with INVALID_CBOR before any verification.
pub(crate) fn raw_sub_command_params(params: Option<&Value>) -> Vec<u8> {
    params.map(cbor::encode).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SeededRng;

    /// A random value of the types CTAP2 uses, at most `depth` levels of
    /// containers deep, with integer lengths around the encoding boundaries.
    fn random_value(rng: &mut SeededRng, depth: usize) -> Value {
        const EDGES: [u64; 9] = [0, 23, 24, 255, 256, 65_535, 65_536, 1 << 32, u64::MAX];
        let pick = |rng: &mut SeededRng| EDGES[rng.below(EDGES.len())];
        match rng.below(if depth == 0 { 7 } else { 9 }) {
            0 => Value::Unsigned(pick(rng)),
            1 => Value::Negative(pick(rng)),
            2 => {
                let mut b = vec![0u8; rng.below(300)];
                rng.fill(&mut b);
                Value::Bytes(b)
            }
            3 => Value::Text("é€𝄞x".repeat(rng.below(10))),
            4 => Value::Bool(rng.below(2) == 1),
            5 => Value::Null,
            6 => Value::Unsigned(rng.below(30) as u64),
            7 => Value::Array(
                (0..rng.below(5))
                    .map(|_| random_value(rng, depth - 1))
                    .collect(),
            ),
            _ => random_map(rng, depth - 1),
        }
    }

    /// A map with distinct keys (integers and texts of several lengths).
    fn random_map(rng: &mut SeededRng, depth: usize) -> Value {
        let n = rng.below(6);
        Value::Map(
            (0..n)
                .map(|i| {
                    let key = if rng.below(2) == 0 {
                        Value::Unsigned((i as u64) * 97)
                    } else {
                        Value::Text("k".repeat(i + 1))
                    };
                    (key, random_value(rng, depth))
                })
                .collect(),
        )
    }

    #[test]
    fn re_encoding_accepted_params_reproduces_the_received_bytes() {
        let mut rng = SeededRng::new(7);
        for _ in 0..2000 {
            let sent = cbor::encode(&random_map(&mut rng, 2));
            let decoded = cbor::decode(&sent).unwrap();
            assert_eq!(raw_sub_command_params(Some(&decoded)), sent);
        }
        // Hand-written canonical params (credMgmt shapes), byte for byte.
        for sent in [
            &[0xA1, 0x01, 0x41, 0x00][..],
            &[
                0xA1, 0x02, 0xA2, 0x62, b'i', b'd', 0x41, 0x07, 0x64, b't', b'y', b'p', b'e', 0x61,
                b'x',
            ],
            &[0xA0],
        ] {
            let decoded = cbor::decode(sent).unwrap();
            assert_eq!(raw_sub_command_params(Some(&decoded)), sent);
        }
        assert!(raw_sub_command_params(None).is_empty());
        // What would not round-trip is refused by the decoder.
        for non_canonical in [
            &[0xA1, 0x01, 0x58, 0x01, 0x00][..], // long-form length
            &[0xA2, 0x02, 0x00, 0x01, 0x00],     // keys out of order
            &[0xBF, 0x01, 0x00, 0xFF],           // indefinite map
            &[0xA1, 0x18, 0x01, 0x00],           // long-form key
        ] {
            assert!(cbor::decode(non_canonical).is_err());
        }
    }
}
