//! What every streaming session (WebSocket or Server-Sent Events) books as it goes: its
//! messages with their gaps and the first one's delay, and how it ended, recorded when the
//! session is dropped whatever ended it (the flow, a fault, or the run's stop deadline).

use super::vu::{lock, Sink};
use crate::measure::StreamEnd;
use std::time::Instant;

/// Records the end of a session when it is dropped, whatever ended it (the flow, a fault, or
/// the run's stop deadline cutting the iteration).
pub(super) struct Session<'a> {
    pub sink: &'a Sink,
    pub index: usize,
    pub opened: Instant,
    pub end: StreamEnd,
    last_message: Option<Instant>,
    first_seen: bool,
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        lock(self.sink)
            .stream(self.index)
            .ended(self.end, Some(self.opened.elapsed()));
    }
}

impl Session<'_> {
    /// Books a received data message.
    pub fn received(&mut self, bytes: usize) {
        let now = Instant::now();
        let gap = self.last_message.map(|t| now - t);
        let mut rec = lock(self.sink);
        let s = rec.stream(self.index);
        if !self.first_seen {
            self.first_seen = true;
            s.first(now - self.opened);
        }
        s.received(bytes, gap);
        self.last_message = Some(now);
    }
}

impl<'a> Session<'a> {
    /// A session of stream `index` that opened at `opened`.
    pub fn open(sink: &'a Sink, index: usize, opened: Instant) -> Self {
        Session {
            sink,
            index,
            opened,
            end: StreamEnd::Normal,
            last_message: None,
            first_seen: false,
        }
    }
}
