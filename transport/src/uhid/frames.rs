//! The relay socket's framing and pacing, sans-IO.
//!
//! Between `softkey serve` and the relay only 64-byte HID reports cross,
//! back to back, with nothing around them (docs/linux.md "The uhid
//! relay"): a report is exactly [`PACKET_SIZE`] bytes of a stream. A
//! [`Framer`] cuts a stream into reports however the bytes arrive, keeping
//! at most one partial report. A [`Pace`] bounds how fast reports go on,
//! as a USB interrupt endpoint does.

use std::time::{Duration, Instant};

use crate::ctaphid::{PACKET_SIZE, Packet};

/// Cuts a byte stream into 64-byte reports. Holds at most 63 bytes between
/// calls, so a peer cannot make it grow.
#[derive(Debug, Clone)]
pub struct Framer {
    partial: Packet,
    filled: usize,
}

impl Default for Framer {
    fn default() -> Self {
        Self::new()
    }
}

impl Framer {
    pub fn new() -> Self {
        Self {
            partial: [0; PACKET_SIZE],
            filled: 0,
        }
    }

    /// How many bytes complete the report in progress: read at most this
    /// many, and every read yields at most one report.
    pub fn wanted(&self) -> usize {
        PACKET_SIZE - self.filled
    }

    /// Bytes of a report begun and not finished.
    pub fn pending(&self) -> usize {
        self.filled
    }

    /// Adds bytes from the stream; calls `on_report` for each report they
    /// complete, in order.
    pub fn push(&mut self, mut bytes: &[u8], mut on_report: impl FnMut(&Packet)) {
        while !bytes.is_empty() {
            let take = self.wanted().min(bytes.len());
            let (head, rest) = bytes.split_at(take);
            if let Some(dst) = self.partial.get_mut(self.filled..self.filled + take) {
                dst.copy_from_slice(head);
            }
            self.filled += take;
            bytes = rest;
            if self.filled == PACKET_SIZE {
                on_report(&self.partial);
                self.filled = 0;
            }
        }
    }
}

/// A token bucket: `burst` reports at once, then one per `interval`.
#[derive(Debug, Clone)]
pub struct Pace {
    burst: u32,
    interval: Duration,
    tokens: u32,
    /// When the last token was added.
    refilled: Instant,
}

impl Pace {
    pub fn new(now: Instant, burst: u32, interval: Duration) -> Self {
        Self {
            burst,
            interval,
            tokens: burst,
            refilled: now,
        }
    }

    /// Takes a token for one report: `Ok` to send it now, or `Err(at)`:
    /// wait until `at` and ask again.
    pub fn take(&mut self, now: Instant) -> Result<(), Instant> {
        self.refill(now);
        if self.tokens > 0 {
            self.tokens -= 1;
            Ok(())
        } else {
            Err(self.refilled + self.interval)
        }
    }

    /// Whether a token is there, without taking it: `Err(at)` as for
    /// [`Pace::take`].
    pub fn ready(&mut self, now: Instant) -> Result<(), Instant> {
        self.refill(now);
        if self.tokens > 0 {
            Ok(())
        } else {
            Err(self.refilled + self.interval)
        }
    }

    fn refill(&mut self, now: Instant) {
        if self.interval.is_zero() {
            self.tokens = self.burst;
            return;
        }
        let elapsed = now.saturating_duration_since(self.refilled);
        let earned = elapsed.as_nanos() / self.interval.as_nanos();
        if earned == 0 {
            return;
        }
        let room = u128::from(self.burst - self.tokens);
        if earned >= room {
            self.tokens = self.burst;
            self.refilled = now;
        } else {
            // `earned < room <= u32::MAX`.
            self.tokens += u32::try_from(earned).unwrap_or(0);
            self.refilled += self.interval * u32::try_from(earned).unwrap_or(0);
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reports_come_out_whole_however_the_bytes_are_cut() {
        let stream: Vec<u8> = (0..=255u8).cycle().take(3 * 64 + 10).collect();
        for cut in [1, 7, 63, 64, 65, 200] {
            let mut framer = Framer::new();
            let mut got = Vec::new();
            for chunk in stream.chunks(cut) {
                framer.push(chunk, |r| got.push(*r));
            }
            assert_eq!(got.len(), 3, "cut {cut}");
            for (i, report) in got.iter().enumerate() {
                assert_eq!(&report[..], &stream[i * 64..(i + 1) * 64]);
            }
            assert_eq!(framer.pending(), 10, "the partial report is kept");
            assert_eq!(framer.wanted(), 54);
        }
    }

    #[test]
    fn the_pace_allows_a_burst_then_one_per_interval() {
        let t0 = Instant::now();
        let ms = Duration::from_millis(1);
        let mut pace = Pace::new(t0, 3, ms);
        for _ in 0..3 {
            assert!(pace.take(t0).is_ok());
        }
        assert_eq!(pace.take(t0), Err(t0 + ms));
        assert!(pace.take(t0 + ms).is_ok());
        assert!(pace.take(t0 + ms).is_err());
        // A long pause refills to the burst, no more.
        let later = t0 + 100 * ms;
        for _ in 0..3 {
            assert!(pace.take(later).is_ok());
        }
        assert!(pace.take(later).is_err());
    }
}
