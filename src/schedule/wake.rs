//! What the scheduler does when it wakes up. The loop ([`super::timer`]) sleeps on tokio's
//! monotonic clock; this pure function compares the wall clock with the fire time it slept
//! for, so suspends and clock jumps are decided here and tested with an injected clock.

use crate::config::{next_fire, prev_fire, Schedule};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// The scheduler's decision on waking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    /// The wall clock is before the fire time (it was set back): compute the next fire
    /// from now, start nothing.
    ClockWentBack,
    /// Fire times up to `latest` have passed. Start one run when `fire`; `missed` counts the
    /// fire times that get no run.
    Due {
        fire: bool,
        missed: u64,
        latest: DateTime<Utc>,
    },
}

/// Counting missed fires stops here (a daemon down for months on a 1 s schedule).
const MAX_COUNTED: u64 = 100_000;

/// Decides what to do at wall-clock `now` after sleeping for the fire at `due`. At most one
/// run starts, for the latest passed fire, and only within `starting_deadline` of it
/// (after the random `jitter` that was added to the sleep).
pub fn on_wake(s: &Schedule, due: DateTime<Utc>, now: DateTime<Utc>, jitter: Duration) -> Wake {
    if now + chrono::Duration::milliseconds(500) < due {
        return Wake::ClockWentBack;
    }
    let latest = prev_fire(s, now).filter(|l| *l >= due).unwrap_or(due);
    let mut between = 0;
    let mut t = due;
    while between < MAX_COUNTED {
        match next_fire(s, t) {
            Some(n) if n <= latest => {
                between += 1;
                t = n;
            }
            _ => break,
        }
    }
    let late = (now - latest)
        .to_std()
        .unwrap_or_default()
        .saturating_sub(jitter);
    let fire = late <= s.starting_deadline;
    Wake::Due {
        fire,
        missed: between + u64::from(!fire),
        latest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Overlap, ScheduleKind};
    use chrono::TimeZone;

    fn every(secs: u64, deadline: u64) -> Schedule {
        Schedule {
            kind: ScheduleKind::Every(Duration::from_secs(secs)),
            overlap: Overlap::Forbid,
            jitter: Duration::ZERO,
            starting_deadline: Duration::from_secs(deadline),
        }
    }

    fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, h, m, s).unwrap()
    }

    #[test]
    fn on_time_fires_once() {
        assert_eq!(
            on_wake(&every(60, 30), t(10, 0, 0), t(10, 0, 0), Duration::ZERO),
            Wake::Due {
                fire: true,
                missed: 0,
                latest: t(10, 0, 0)
            }
        );
    }

    #[test]
    fn b5_clock_stepped_back_never_fires_early() {
        assert_eq!(
            on_wake(&every(60, 30), t(10, 0, 0), t(9, 0, 5), Duration::ZERO),
            Wake::ClockWentBack
        );
    }

    #[test]
    fn b5_clock_stepped_forward_one_hour_is_one_run_not_a_burst() {
        // Slept for 10:00, woke at 11:00:10: 60 fires passed; one catch-up run for 11:00.
        let w = on_wake(&every(60, 30), t(10, 0, 0), t(11, 0, 10), Duration::ZERO);
        assert_eq!(
            w,
            Wake::Due {
                fire: true,
                missed: 60,
                latest: t(11, 0, 0)
            }
        );
    }

    #[test]
    fn b6_suspended_past_the_deadline_counts_every_fire_missed() {
        // Woke 45 s after the last passed fire, deadline 30 s: nothing starts.
        let w = on_wake(&every(60, 30), t(10, 0, 0), t(10, 5, 45), Duration::ZERO);
        assert_eq!(
            w,
            Wake::Due {
                fire: false,
                missed: 6,
                latest: t(10, 5, 0)
            }
        );
    }

    #[test]
    fn jitter_does_not_count_as_lateness() {
        let w = on_wake(
            &every(60, 1),
            t(10, 0, 0),
            t(10, 0, 20),
            Duration::from_secs(20),
        );
        assert_eq!(
            w,
            Wake::Due {
                fire: true,
                missed: 0,
                latest: t(10, 0, 0)
            }
        );
    }

    #[test]
    fn b7_months_of_downtime_on_a_one_second_schedule_stay_bounded() {
        let s = every(1, 10);
        let start = std::time::Instant::now();
        let w = on_wake(
            &s,
            t(0, 0, 0),
            t(0, 0, 0) + chrono::Duration::days(90),
            Duration::ZERO,
        );
        assert!(
            matches!(
                w,
                Wake::Due {
                    fire: true,
                    missed: MAX_COUNTED,
                    ..
                }
            ),
            "{w:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
