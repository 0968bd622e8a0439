//! Measurement: what a worker records and how records are merged.
//!
//! This module depends on nothing else of ours. Workers own a [`Recorder`] and hand it over
//! as a batch once a second; the aggregator merges batches into a run total and into the
//! current window. Memory is bounded by construction: histograms, never per-request vectors.

mod custom;
mod error_kind;
mod histo;
mod recorder;
mod series;
mod stream;
mod wire;

pub use custom::{CustomStats, OTHER_LABEL};
pub use error_kind::ErrorKind;
pub use histo::Histo;
pub use recorder::{LatencyStats, Recorder, RequestStats, Sample, MAX_COUNT};
pub use series::{full_windows, is_zero, WindowPoint, WindowSeries, WorkloadPoint};
pub use stream::{StreamEnd, StreamStats, Tally};
pub use wire::{bounded as bounded_read, MAX_INFLATED_BYTES, SUMMARY_BUDGET_BYTES};
