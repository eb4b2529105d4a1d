//! Typed access to decoded CBOR, each failure mapped to its CTAP status
//! (CTAP 2.1 §8.2): wrong type → CTAP2_ERR_CBOR_UNEXPECTED_TYPE, absent
//! required key → CTAP2_ERR_MISSING_PARAMETER. Unknown keys are simply never
//! looked at, which is how CTAP2 wants them treated.

use super::Value;
use crate::status::CtapError;

/// The pairs of a CBOR map, looked up by integer or text key.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    pairs: &'a [(Value, Value)],
}

impl<'a> Fields<'a> {
    /// `value` must be a map.
    pub fn of(value: &'a Value) -> Result<Self, CtapError> {
        match value {
            Value::Map(pairs) => Ok(Fields { pairs }),
            _ => Err(CtapError::CborUnexpectedType),
        }
    }

    /// The value under unsigned integer key `key`, if present.
    pub fn int(&self, key: u64) -> Option<&'a Value> {
        self.pairs.iter().find_map(|(k, v)| match k {
            Value::Unsigned(n) if *n == key => Some(v),
            _ => None,
        })
    }

    /// The value under text key `key`, if present.
    pub fn text(&self, key: &str) -> Option<&'a Value> {
        self.pairs.iter().find_map(|(k, v)| match k {
            Value::Text(t) if t == key => Some(v),
            _ => None,
        })
    }

    pub fn pairs(&self) -> &'a [(Value, Value)] {
        self.pairs
    }
}

/// A required key: absent → CTAP2_ERR_MISSING_PARAMETER.
pub fn required(value: Option<&Value>) -> Result<&Value, CtapError> {
    value.ok_or(CtapError::MissingParameter)
}

pub fn bytes(value: &Value) -> Result<&[u8], CtapError> {
    match value {
        Value::Bytes(b) => Ok(b),
        _ => Err(CtapError::CborUnexpectedType),
    }
}

pub fn text(value: &Value) -> Result<&str, CtapError> {
    match value {
        Value::Text(t) => Ok(t),
        _ => Err(CtapError::CborUnexpectedType),
    }
}

pub fn array(value: &Value) -> Result<&[Value], CtapError> {
    match value {
        Value::Array(items) => Ok(items),
        _ => Err(CtapError::CborUnexpectedType),
    }
}

pub fn boolean(value: &Value) -> Result<bool, CtapError> {
    match value {
        Value::Bool(b) => Ok(*b),
        _ => Err(CtapError::CborUnexpectedType),
    }
}

pub fn unsigned(value: &Value) -> Result<u64, CtapError> {
    match value {
        Value::Unsigned(n) => Ok(*n),
        _ => Err(CtapError::CborUnexpectedType),
    }
}

/// An integer of either sign. Values beyond `i64` are well-typed but name
/// nothing we know, so they come back as `None` rather than as an error.
pub fn integer(value: &Value) -> Result<Option<i64>, CtapError> {
    match value {
        Value::Unsigned(_) | Value::Negative(_) => Ok(value.as_i64()),
        _ => Err(CtapError::CborUnexpectedType),
    }
}

/// Applies `f` to an optional field's value.
pub fn optional<'a, T>(
    value: Option<&'a Value>,
    f: impl FnOnce(&'a Value) -> Result<T, CtapError>,
) -> Result<Option<T>, CtapError> {
    value.map(f).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_and_type_errors() {
        let v = Value::Map(vec![
            (Value::int(1), Value::bytes(b"x")),
            (Value::text("rk"), Value::Bool(true)),
        ]);
        let f = Fields::of(&v).unwrap();
        assert_eq!(bytes(required(f.int(1)).unwrap()).unwrap(), b"x");
        assert_eq!(required(f.int(2)).unwrap_err(), CtapError::MissingParameter);
        assert_eq!(
            text(f.int(1).unwrap()).unwrap_err(),
            CtapError::CborUnexpectedType
        );
        assert!(boolean(f.text("rk").unwrap()).unwrap());
        assert_eq!(f.text("up"), None);
        assert_eq!(
            Fields::of(&Value::Null).unwrap_err(),
            CtapError::CborUnexpectedType
        );
        assert_eq!(integer(&Value::Negative(u64::MAX)).unwrap(), None);
        assert_eq!(integer(&Value::int(-7)).unwrap(), Some(-7));
        assert_eq!(
            integer(&Value::Null).unwrap_err(),
            CtapError::CborUnexpectedType
        );
        assert_eq!(optional(f.int(9), unsigned).unwrap(), None);
        assert_eq!(
            optional(f.int(1), unsigned).unwrap_err(),
            CtapError::CborUnexpectedType
        );
    }
}
