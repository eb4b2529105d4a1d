//! A bounds-checked big-endian reader over peer-supplied bytes.
//!
//! Every parser in this crate reads device output through this cursor, so a short or
//! truncated message becomes an error naming the field, never a panic.

use crate::Error;

/// A read position in a byte slice; all reads are checked.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Cursor<'a> {
    /// A cursor over `bytes`; `what` names the structure in error messages.
    pub(crate) fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Cursor { rest: bytes, what }
    }

    pub(crate) fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], Error> {
        let (head, tail) = self.rest.split_at_checked(n).ok_or_else(|| {
            Error::protocol(format!(
                "{}: truncated at {field} (need {n} bytes, have {})",
                self.what,
                self.rest.len()
            ))
        })?;
        self.rest = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N], Error> {
        let s = self.take(N, field)?;
        // `take` returned exactly N bytes.
        s.try_into()
            .map_err(|_| Error::protocol(format!("{}: bad {field}", self.what)))
    }

    pub(crate) fn u8(&mut self, field: &str) -> Result<u8, Error> {
        Ok(u8::from_be_bytes(self.array::<1>(field)?))
    }

    pub(crate) fn u16(&mut self, field: &str) -> Result<u16, Error> {
        Ok(u16::from_be_bytes(self.array::<2>(field)?))
    }

    pub(crate) fn u32(&mut self, field: &str) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.array::<4>(field)?))
    }

    pub(crate) fn i32(&mut self, field: &str) -> Result<i32, Error> {
        Ok(i32::from_be_bytes(self.array::<4>(field)?))
    }

    pub(crate) fn remaining(&self) -> &'a [u8] {
        self.rest
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

/// Fills `buf` from the OS generator (nonces, client data hashes, user ids).
pub(crate) fn random_bytes(buf: &mut [u8]) -> Result<(), Error> {
    getrandom::fill(buf).map_err(|e| Error::Usage(format!("no OS randomness: {e}")))
}

/// Lower-case hex of `bytes`, for diagnostics.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_big_endian_and_reports_truncation() {
        let mut c = Cursor::new(&[0x01, 0x02, 0x03, 0x04, 0xFF, 0xFF, 0xFF, 0x98, 0x05], "t");
        assert_eq!(c.u16("a").unwrap(), 0x0102);
        assert_eq!(c.u16("b").unwrap(), 0x0304);
        assert_eq!(c.i32("c").unwrap(), -104);
        assert!(c.u16("d").is_err());
        assert_eq!(c.remaining(), &[0x05]);
        assert_eq!(c.u8("e").unwrap(), 5);
        assert!(c.is_empty());
    }

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex(&[0x00, 0xAB, 0x7f]), "00ab7f");
    }
}
