//! Measurement: what a worker records and how records are merged.
//!
//! This module depends on nothing else of ours. Workers own a [`Recorder`] and hand it over
//! as a batch once a second; the aggregator merges batches into a run total and into the
//! current window. Memory is bounded by construction: histograms, never per-request vectors.

mod recorder;
mod series;

pub use recorder::{ErrorKind, Histo, LatencyStats, Recorder, RequestStats, Sample};
pub use series::{WindowPoint, WindowSeries};
