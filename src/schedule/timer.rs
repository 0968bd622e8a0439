//! The timer loop of one scheduled plan: sleep until the next fire (plus jitter), ask
//! [`super::on_wake`] what the wake-up means, call the trigger, report what happened.
//! Wall-clock time decides when a run is due; tokio's monotonic clock does the sleeping, so
//! the loop runs unchanged under paused tokio time with a clock derived from it.

use super::wake::{on_wake, Wake};
use crate::config::{next_fire, Schedule};
use chrono::{DateTime, Utc};
use rand::Rng;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The wall clock the loop reads.
pub trait Clock {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's wall clock.
pub struct WallClock;

impl Clock for WallClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Why a due run did not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The previous run still goes on and the overlap policy is forbid.
    Overlap,
    /// The concurrency or rate limit is reached.
    Concurrency,
    /// Anything else (the store refused the run, the daemon is stopping).
    Other(String),
}

/// What the loop reports as it goes (the daemon's `/metrics`).
pub trait Events {
    /// The next fire time, once computed.
    fn next_fire(&self, at: DateTime<Utc>);
    /// How late the wake-up was, jitter excluded.
    fn late(&self, by: Duration);
    /// A due run that did not start.
    fn skipped(&self, why: &Refused);
    /// Fire times that got no run (suspend, downtime, a forward clock jump).
    fn missed(&self, n: u64);
}

/// Runs `schedule` until `stop`: sleeps until each fire time and calls `trigger`. After a
/// suspend or a forward clock jump at most one catch-up run starts (when within
/// `starting_deadline`) and the other fires are counted as missed; a backward jump
/// recomputes the next fire, never a burst.
pub async fn drive(
    schedule: &Schedule,
    clock: &impl Clock,
    events: &impl Events,
    mut trigger: impl FnMut() -> Result<(), Refused>,
    stop: CancellationToken,
) {
    let mut after = clock.now();
    loop {
        let Some(due) = next_fire(schedule, after) else {
            return;
        };
        events.next_fire(due);
        let jitter = if schedule.jitter.is_zero() {
            Duration::ZERO
        } else {
            rand::rng().random_range(Duration::ZERO..=schedule.jitter)
        };
        let wait = (due - clock.now()).to_std().unwrap_or_default() + jitter;
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let woke = clock.now();
        events.late(
            (woke - due)
                .to_std()
                .unwrap_or_default()
                .saturating_sub(jitter),
        );
        match on_wake(schedule, due, woke, jitter) {
            Wake::ClockWentBack => after = clock.now(),
            Wake::Due {
                fire,
                missed,
                latest,
            } => {
                if fire {
                    if let Err(why) = trigger() {
                        events.skipped(&why);
                    }
                }
                if missed > 0 {
                    events.missed(missed);
                }
                after = latest;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Overlap, ScheduleKind};
    use chrono::TimeZone;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Mutex;
    use tokio::time::Instant;

    /// A wall clock that follows paused tokio time from a fixed start, plus an offset the
    /// test can move (a suspend or an NTP step).
    struct TestClock {
        wall: DateTime<Utc>,
        start: Instant,
        offset_ms: AtomicI64,
    }

    impl TestClock {
        fn at(wall: DateTime<Utc>) -> Self {
            TestClock {
                wall,
                start: Instant::now(),
                offset_ms: AtomicI64::new(0),
            }
        }
        fn jump(&self, by: chrono::Duration) {
            self.offset_ms
                .fetch_add(by.num_milliseconds(), Ordering::SeqCst);
        }
    }

    impl Clock for TestClock {
        fn now(&self) -> DateTime<Utc> {
            let elapsed = chrono::Duration::from_std(self.start.elapsed()).unwrap();
            self.wall
                + elapsed
                + chrono::Duration::milliseconds(self.offset_ms.load(Ordering::SeqCst))
        }
    }

    #[derive(Default)]
    struct Seen {
        missed: Mutex<u64>,
        skipped: Mutex<Vec<Refused>>,
        late: Mutex<Vec<Duration>>,
    }

    impl Events for Seen {
        fn next_fire(&self, _: DateTime<Utc>) {}
        fn late(&self, by: Duration) {
            self.late.lock().unwrap().push(by);
        }
        fn skipped(&self, why: &Refused) {
            self.skipped.lock().unwrap().push(why.clone());
        }
        fn missed(&self, n: u64) {
            *self.missed.lock().unwrap() += n;
        }
    }

    fn every(secs: u64) -> Schedule {
        Schedule {
            kind: ScheduleKind::Every(Duration::from_secs(secs)),
            overlap: Overlap::Forbid,
            jitter: Duration::ZERO,
            starting_deadline: Duration::from_secs(30),
        }
    }

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 5).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn fires_on_every_boundary_on_time() {
        let clock = TestClock::at(start());
        let seen = Seen::default();
        let fired = Mutex::new(Vec::new());
        let stop = CancellationToken::new();
        let stopper = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(10 * 60 + 1)).await;
            stopper.cancel();
        });
        drive(
            &every(60),
            &clock,
            &seen,
            || {
                fired.lock().unwrap().push(clock.now());
                Ok(())
            },
            stop,
        )
        .await;
        let fired = fired.into_inner().unwrap();
        assert_eq!(fired.len(), 10, "{fired:?}");
        for (i, at) in fired.iter().enumerate() {
            let want = Utc
                .with_ymd_and_hms(2026, 12, 1, 10, 1 + i as u32, 0)
                .unwrap();
            assert!((*at - want).num_milliseconds().abs() < 5, "{at} vs {want}");
        }
        assert_eq!(*seen.missed.lock().unwrap(), 0);
        assert!(seen
            .late
            .lock()
            .unwrap()
            .iter()
            .all(|l| *l < Duration::from_millis(5)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_forward_jump_gives_one_catch_up_run_and_counts_the_rest_missed() {
        let clock = TestClock::at(start());
        let seen = Seen::default();
        let mut fired = 0;
        let stop = CancellationToken::new();
        drive(
            &every(60),
            &clock,
            &seen,
            || {
                fired += 1;
                if fired == 1 {
                    // The machine sleeps for ten minutes right after the first run.
                    clock.jump(chrono::Duration::minutes(10));
                }
                if fired == 3 {
                    stop.cancel();
                }
                Ok(())
            },
            stop.clone(),
        )
        .await;
        // 10:01 runs; the clock jumps to 10:11; the wake-up for 10:02 happens at 10:11: one
        // run for the latest fire (10:11), 10:02..=10:10 (nine fires) missed; then 10:12 runs
        // on time.
        assert_eq!(fired, 3);
        assert_eq!(*seen.missed.lock().unwrap(), 9);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_trigger_is_reported_and_the_loop_goes_on() {
        let clock = TestClock::at(start());
        let seen = Seen::default();
        let mut calls = 0;
        let stop = CancellationToken::new();
        drive(
            &every(60),
            &clock,
            &seen,
            || {
                calls += 1;
                if calls == 3 {
                    stop.cancel();
                }
                Err(Refused::Overlap)
            },
            stop.clone(),
        )
        .await;
        assert_eq!(calls, 3);
        assert_eq!(*seen.skipped.lock().unwrap(), vec![Refused::Overlap; 3]);
    }
}
