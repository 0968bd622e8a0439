//! One finished request, as the run stage hands it to the recorder.

use crate::measure::error_kind::ErrorKind;
use std::time::Duration;

/// One finished request, as a worker reports it.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Index of the request in the plan's request table.
    pub request: usize,
    /// From the intended send time to the end of the response (coordinated-omission corrected).
    pub latency: Duration,
    /// From the actual send to the end of the response.
    pub service: Duration,
    /// From the actual send to the response headers; `None` when no response arrived.
    pub ttfb: Option<Duration>,
    /// HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// Why the request counts as failed, if it does.
    pub error: Option<ErrorKind>,
    /// True when it was re-sent once on a fresh connection because the kept-alive one had
    /// been closed by the target at reuse.
    pub stale_retry: bool,
}

impl Sample {
    /// A request that was never sent (its URL or body could not be built): an error
    /// without a time.
    pub fn unsent(request: usize, error: ErrorKind) -> Self {
        Sample {
            request,
            latency: Duration::ZERO,
            service: Duration::ZERO,
            ttfb: None,
            status: None,
            error: Some(error),
            stale_retry: false,
        }
    }
}
