//! `limits.max_rps` for plans without a rate of their own.

use std::time::Duration;
use tokio::time::Instant;

/// How far behind `now` a pacer's next slot may be: the bucket of a token bucket, as time at
/// the cap. Requests well under the cap never wait (a VU's back-to-back requests at 9 req/s
/// under a cap of 100 waited for 1/100 s each when this was 2 ms), and over any window the
/// cap holds to within this much of its rate (10 % over a second). Never under 2 ms: `hit -c
/// 10` against nginx made 10,000 req/s instead of 56,000 with its VUs sleeping a timer tick
/// for slots 10 µs away.
const PACER_BURST: Duration = Duration::from_millis(100);

/// Holds requests to at most `rate` per second over all workers of a run, as a token bucket
/// of [`PACER_BURST`] at the rate (GCRA): a closed-model plan has no rate of its own, so
/// this is how `limits.max_rps` holds for it. Slots are handed out with one atomic per
/// request; a request that finds its slot in the future (the bucket empty) waits for it, and
/// only those are counted as held down by the cap.
pub struct Pacer {
    base: Instant,
    interval_ns: u64,
    next_ns: std::sync::atomic::AtomicU64,
    /// Requests that had to wait for their slot.
    pub paced: std::sync::atomic::AtomicU64,
}

impl Pacer {
    /// A pacer for `rate` requests per second (`rate` > 0).
    pub fn new(rate: f64) -> Self {
        Self {
            base: Instant::now(),
            interval_ns: (1e9 / rate.max(1e-3)) as u64,
            next_ns: Default::default(),
            paced: Default::default(),
        }
    }

    /// Waits for the next free slot; true when it had to wait.
    pub(super) async fn wait(&self) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let now = self.base.elapsed().as_nanos() as u64;
        let mut cur = self.next_ns.load(Relaxed);
        let slot = loop {
            // Credit accumulates for at most PACER_BURST while idle: VUs that finish in the
            // same poll restart within microseconds of each other, and a slot a few
            // microseconds ahead would cost a whole timer tick (1 ms) of sleep. Over any
            // window the cap holds to within PACER_BURST's worth of requests.
            let slot = cur.max(now.saturating_sub(PACER_BURST.as_nanos() as u64));
            match self
                .next_ns
                .compare_exchange_weak(cur, slot + self.interval_ns, Relaxed, Relaxed)
            {
                Ok(_) => break slot,
                Err(seen) => cur = seen,
            }
        };
        if slot <= now {
            return false;
        }
        self.paced.fetch_add(1, Relaxed);
        tokio::time::sleep(Duration::from_nanos(slot - now)).await;
        true
    }
}
