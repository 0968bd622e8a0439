//! What a streaming step (a WebSocket or Server-Sent Events session) measured: connect
//! latency, round trips, time to the first message, gaps between messages, messages and
//! bytes each way, sessions, and how each session ended.

use super::error_kind::ErrorKind;
use super::histo::{micros, new_histo, Histo};
use serde::Serialize;
use std::time::Duration;

/// How a streaming session ended. The label values are part of the public metric and JSON
/// schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamEnd {
    /// The flow closed it (or its last step ended).
    Normal,
    /// The server closed it (a close frame, or the end of an event stream) before the flow
    /// was done.
    ClosedByServer,
    /// The server broke the protocol: garbage frames, a malformed event stream, a frame the
    /// client may not receive.
    Protocol,
    /// Connecting, the upgrade, or an `expect`/ping answer took longer than its bound.
    Timeout,
    /// The connection was reset or dropped without a close.
    Reset,
    /// A message larger than the target's `max_body`.
    TooLarge,
    /// The server answered the upgrade (or the event-stream request) with something else
    /// than the protocol: a non-101 status, a non-event-stream content type.
    Refused,
    /// The TCP connection or name resolution failed.
    Connect,
    /// TLS failed (any certificate or handshake fault).
    Tls,
    /// The destination is outside the allowlist or in an always-refused range.
    Blocked,
}

impl StreamEnd {
    /// Every kind, in label order.
    pub const ALL: [StreamEnd; 10] = [
        StreamEnd::Normal,
        StreamEnd::ClosedByServer,
        StreamEnd::Protocol,
        StreamEnd::Timeout,
        StreamEnd::Reset,
        StreamEnd::TooLarge,
        StreamEnd::Refused,
        StreamEnd::Connect,
        StreamEnd::Tls,
        StreamEnd::Blocked,
    ];

    /// The label value used in metrics and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamEnd::Normal => "normal",
            StreamEnd::ClosedByServer => "closed_by_server",
            StreamEnd::Protocol => "protocol",
            StreamEnd::Timeout => "timeout",
            StreamEnd::Reset => "reset",
            StreamEnd::TooLarge => "too_large",
            StreamEnd::Refused => "refused",
            StreamEnd::Connect => "connect",
            StreamEnd::Tls => "tls",
            StreamEnd::Blocked => "blocked",
        }
    }

    /// True for every end but [`StreamEnd::Normal`]: what a disconnect rate counts.
    pub fn is_abnormal(self) -> bool {
        self != StreamEnd::Normal
    }

    /// The stream end of a connect-phase failure classified like an HTTP request's.
    pub fn from_error(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::Timeout | ErrorKind::Cancelled => StreamEnd::Timeout,
            ErrorKind::Connect | ErrorKind::Dns => StreamEnd::Connect,
            ErrorKind::Blocked => StreamEnd::Blocked,
            ErrorKind::Tls
            | ErrorKind::TlsUntrusted
            | ErrorKind::TlsExpired
            | ErrorKind::TlsHostname => StreamEnd::Tls,
            ErrorKind::Reset => StreamEnd::Reset,
            ErrorKind::Protocol => StreamEnd::Protocol,
            ErrorKind::Status => StreamEnd::Refused,
            ErrorKind::BodyTooLarge => StreamEnd::TooLarge,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Everything recorded for one streaming step of the plan.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct StreamStats {
    /// From the intended start (the first step of an iteration) or the actual start, to the
    /// open stream (upgrade done, or event-stream headers received).
    #[serde(with = "super::wire::histo")]
    pub connect: Histo,
    /// Send → matching reply (an `expect` after a `send`).
    #[serde(with = "super::wire::histo")]
    pub rtt: Histo,
    /// Ping → pong: the connection's own round trip, apart from the server's replies.
    #[serde(with = "super::wire::histo", default = "new_histo")]
    pub ping: Histo,
    /// From the open stream to its first message.
    #[serde(with = "super::wire::histo")]
    pub first_message: Histo,
    /// Between consecutive received messages of a session.
    #[serde(with = "super::wire::histo")]
    pub gap: Histo,
    /// How long sessions lasted, open to end.
    #[serde(with = "super::wire::histo")]
    pub duration: Histo,
    pub sessions: u64,
    pub messages_sent: u64,
    pub messages_received: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Reconnects after a drop (event streams).
    pub reconnects: u64,
    ends: [u64; StreamEnd::ALL.len()],
    /// Close codes the server sent (WebSocket), a few distinct ones at most.
    pub close_codes: Tally,
    /// Events received by type (`message` when unnamed; SSE), a few distinct ones at most.
    pub event_types: Tally,
}

/// Counts by a small set of keys: at most [`Tally::MAX_KEYS`] distinct ones, the rest under
/// `other`, so a server inventing names cannot grow memory or label sets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Tally(Vec<(String, u64)>);

impl Tally {
    pub const MAX_KEYS: usize = 16;

    pub fn add(&mut self, key: &str, n: u64) {
        if let Some(e) = self.0.iter_mut().find(|(k, _)| k == key) {
            e.1 += n;
        } else if self.0.len() < Self::MAX_KEYS - 1 {
            self.0.push((key.to_string(), n));
        } else if let Some(e) = self.0.iter_mut().find(|(k, _)| k == "other") {
            e.1 += n;
        } else {
            self.0.push(("other".to_string(), n));
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.0.iter().map(|(k, n)| (k.as_str(), *n))
    }

    fn merge(&mut self, o: &Tally) {
        for (k, n) in o.iter() {
            self.add(k, n);
        }
    }
}

impl Default for StreamStats {
    fn default() -> Self {
        Self {
            connect: new_histo(),
            rtt: new_histo(),
            ping: new_histo(),
            first_message: new_histo(),
            gap: new_histo(),
            duration: new_histo(),
            sessions: 0,
            messages_sent: 0,
            messages_received: 0,
            bytes_sent: 0,
            bytes_received: 0,
            reconnects: 0,
            ends: [0; StreamEnd::ALL.len()],
            close_codes: Tally::default(),
            event_types: Tally::default(),
        }
    }
}

impl StreamStats {
    pub fn connected(&mut self, latency: Duration) {
        self.sessions += 1;
        let _ = self.connect.record(micros(latency));
    }
    /// A sent message's matching reply arrived after `d`.
    pub fn round_trip(&mut self, d: Duration) {
        let _ = self.rtt.record(micros(d));
    }
    /// A ping's pong arrived after `d`.
    pub fn pong(&mut self, d: Duration) {
        let _ = self.ping.record(micros(d));
    }
    pub fn first(&mut self, d: Duration) {
        let _ = self.first_message.record(micros(d));
    }
    pub fn received(&mut self, bytes: usize, gap: Option<Duration>) {
        self.messages_received += 1;
        self.bytes_received += bytes as u64;
        if let Some(g) = gap {
            let _ = self.gap.record(micros(g));
        }
    }
    pub fn sent(&mut self, bytes: usize) {
        self.messages_sent += 1;
        self.bytes_sent += bytes as u64;
    }
    /// A session ended (or never opened) for `why`; `open_for` is `None` when it never
    /// opened.
    pub fn ended(&mut self, why: StreamEnd, open_for: Option<Duration>) {
        self.ends[why.index()] += 1;
        if let Some(d) = open_for {
            let _ = self.duration.record(micros(d));
        }
    }
    /// Sessions that ended for `why`.
    /// Every count it holds, for checking a segment read from outside.
    pub fn counts(&self) -> Vec<u64> {
        let mut v = vec![
            self.sessions,
            self.messages_sent,
            self.messages_received,
            self.bytes_sent,
            self.bytes_received,
            self.reconnects,
            self.connect.len(),
            self.rtt.len(),
            self.ping.len(),
            self.gap.len(),
        ];
        v.extend(self.ends);
        v
    }

    pub fn ends_of(&self, why: StreamEnd) -> u64 {
        self.ends[why.index()]
    }
    /// Sessions that ended, normally or not, and attempts that never opened.
    pub fn ended_total(&self) -> u64 {
        self.ends.iter().sum()
    }
    /// Sessions open now: opened and not yet ended (an ended session has a duration).
    pub fn open(&self) -> u64 {
        self.sessions.saturating_sub(self.duration.len())
    }
    /// Attempts that ended before the stream opened: counted in `ends`, not in `sessions`.
    pub fn attempts_failed(&self) -> u64 {
        self.ended_total().saturating_sub(self.duration.len())
    }
    /// Abnormal ends (everything but `normal`) per attempt, 0 without attempts.
    pub fn disconnect_rate(&self) -> f64 {
        let attempts = self.sessions + self.attempts_failed();
        if attempts == 0 {
            return 0.0;
        }
        let abnormal: u64 = StreamEnd::ALL
            .iter()
            .filter(|e| e.is_abnormal())
            .map(|e| self.ends_of(*e))
            .sum();
        abnormal as f64 / attempts as f64
    }

    /// Adds another step's (or worker's) figures into these.
    pub fn merge(&mut self, o: &StreamStats) {
        for (a, b) in [
            (&mut self.connect, &o.connect),
            (&mut self.rtt, &o.rtt),
            (&mut self.ping, &o.ping),
            (&mut self.first_message, &o.first_message),
            (&mut self.gap, &o.gap),
            (&mut self.duration, &o.duration),
        ] {
            let _ = a.add(b);
        }
        self.sessions += o.sessions;
        self.messages_sent += o.messages_sent;
        self.messages_received += o.messages_received;
        self.bytes_sent += o.bytes_sent;
        self.bytes_received += o.bytes_received;
        self.reconnects += o.reconnects;
        self.close_codes.merge(&o.close_codes);
        self.event_types.merge(&o.event_types);
        for (a, b) in self.ends.iter_mut().zip(o.ends) {
            *a += b;
        }
    }

    pub(super) fn reset(&mut self) {
        for h in [
            &mut self.connect,
            &mut self.rtt,
            &mut self.ping,
            &mut self.first_message,
            &mut self.gap,
            &mut self.duration,
        ] {
            h.reset();
        }
        self.sessions = 0;
        self.messages_sent = 0;
        self.messages_received = 0;
        self.bytes_sent = 0;
        self.bytes_received = 0;
        self.reconnects = 0;
        self.close_codes = Tally::default();
        self.event_types = Tally::default();
        self.ends = [0; StreamEnd::ALL.len()];
    }

    pub(super) fn is_empty(&self) -> bool {
        self.sessions == 0 && self.ended_total() == 0 && self.messages_received == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_keeps_a_few_keys_and_folds_the_rest_into_other() {
        let mut t = Tally::default();
        for i in 0..40 {
            t.add(&format!("type-{i}"), 1);
        }
        t.add("type-0", 2);
        let keys: Vec<_> = t.iter().collect();
        assert_eq!(keys.len(), Tally::MAX_KEYS);
        assert_eq!(keys[0], ("type-0", 3));
        assert_eq!(t.iter().find(|(k, _)| *k == "other"), Some(("other", 25)));
    }

    #[test]
    fn open_sessions_and_disconnect_rate_count_failed_attempts() {
        let mut s = StreamStats::default();
        s.connected(Duration::from_millis(2));
        s.connected(Duration::from_millis(3));
        assert_eq!(s.open(), 2);
        s.ended(StreamEnd::Normal, Some(Duration::from_secs(1)));
        s.ended(StreamEnd::Refused, None); // an attempt that never opened
        assert_eq!(s.open(), 1);
        s.ended(StreamEnd::ClosedByServer, Some(Duration::from_secs(2)));
        assert_eq!(s.open(), 0);
        // 3 attempts, 2 abnormal ends.
        assert!((s.disconnect_rate() - 2.0 / 3.0).abs() < 1e-9);
        let mut t = StreamStats::default();
        t.merge(&s);
        assert_eq!(t.ends_of(StreamEnd::ClosedByServer), 1);
        assert_eq!(t.open(), 0);
    }
}
