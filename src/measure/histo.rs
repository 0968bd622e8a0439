//! Latency histograms in microseconds (HdrHistogram).

use hdrhistogram::Histogram;
use std::time::Duration;

/// A latency histogram in microseconds: 1 µs to 1 h at 3 significant digits, grown on demand so
/// that a histogram that only saw milliseconds stays small.
pub type Histo = Histogram<u64>;

const MAX_MICROS: u64 = 3_600_000_000;

pub(super) fn new_histo() -> Histo {
    let mut h = Histogram::new(3).expect("3 significant digits is valid");
    h.auto(true);
    h
}

pub(super) fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, MAX_MICROS)
}

// Recorded times travel as u32 microseconds in a request's short sample list.
const _: () = assert!(MAX_MICROS <= u32::MAX as u64);
