//! When a worker wakes for its next arrival or check. tokio's timer has 1-ms ticks: a
//! deadline rounds up to the next tick and the wait itself rounds up again, so an arrival
//! went out up to ~1.5 ms after its time, and that lag is part of every open-model latency
//! (latency counts from the intended time). The exact alarm is a Linux timerfd armed for the
//! deadline itself, waited on through the runtime's own poller: ~0.1 ms of lag, for one
//! `timerfd_settime` and one wake-up per arrival (`load.dispatch`). Neither ever wakes early
//! for an arrival: a wake-up before the deadline waits again.
//!
//! Measured (benches/RESULTS.md, "Dispatch timing"): at 2,000/s the exact alarm cut the
//! dispatch lag p99 from 1.2-1.7 ms to 0.1-0.2 ms and open-model p50 from ~0.8 to ~0.13 ms
//! against nginx on loopback, for 1.5-2x the CPU per request.

use std::pin::Pin;
use tokio::time::{Instant, Sleep};

/// How far after the alarm its guard sits: one timer tick.
const GUARD: std::time::Duration = std::time::Duration::from_millis(1);

/// A worker's one pending wake-up, on the 1-ms timer or exact.
pub struct Alarm {
    tick: Pin<Box<Sleep>>,
    /// Registered, never awaited: see [`Alarm::set`].
    guard: Pin<Box<Sleep>>,
    exact: Option<exact::Timer>,
    /// Whether the exact timer could not be made (then everything ticks).
    no_exact: bool,
    /// The wake-up last set and whether it is exact; none before the first.
    armed: Option<(Instant, bool)>,
}

impl Alarm {
    pub fn new(at: Instant) -> Self {
        Self {
            tick: Box::pin(tokio::time::sleep_until(at)),
            guard: Box::pin(tokio::time::sleep_until(at + GUARD)),
            exact: None,
            no_exact: false,
            armed: None,
        }
    }

    /// Sets the next wake-up, exact when `exact()` says so and the timer is available.
    /// `exact` is asked only when the time changes (workers set the same time after every
    /// completion).
    pub fn set(&mut self, at: Instant, exact: impl FnOnce() -> bool) {
        if self.armed.is_some_and(|(a, _)| a == at) {
            return;
        }
        let exact = exact() && self.exact_timer().is_some();
        self.armed = Some((at, exact));
        match (exact, self.exact.as_mut()) {
            (true, Some(t)) => t.arm(at),
            _ => {
                // The guard first, one tick after the alarm: tokio's timer wakes its driver
                // (an eventfd write and an extra epoll_wait) whenever an entry is registered
                // earlier than the earliest it knew of, which a worker re-arming its alarm
                // after each wake-up always was. With the guard in place the earliest entry
                // is already right after the alarm; it is moved before it can fire.
                let guard = at + GUARD;
                if self.guard.deadline() != guard {
                    self.guard.as_mut().reset(guard);
                }
                if self.tick.deadline() != at {
                    self.tick.as_mut().reset(at);
                }
            }
        }
    }

    /// Waits for the wake-up last set.
    pub async fn ring(&mut self) {
        match (self.armed, self.exact.as_mut()) {
            (Some((at, true)), Some(t)) => t.wait(at).await,
            _ => self.tick.as_mut().await,
        }
    }

    fn exact_timer(&mut self) -> Option<&mut exact::Timer> {
        if self.exact.is_none() && !self.no_exact {
            match exact::Timer::new() {
                Ok(t) => self.exact = Some(t),
                Err(e) => {
                    tracing::warn!(error = %e, "no exact timer; arrivals wake on 1-ms ticks");
                    self.no_exact = true;
                }
            }
        }
        self.exact.as_mut()
    }
}

#[cfg(target_os = "linux")]
mod exact {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;
    use tokio::time::Instant;

    /// A timerfd registered with the runtime's poller (edge-triggered: every expiry is a new
    /// event, so it is never read; arming it again clears its count).
    pub struct Timer {
        fd: AsyncFd<OwnedFd>,
    }

    impl Timer {
        pub fn new() -> std::io::Result<Self> {
            // SAFETY: plain syscall; the result is checked before it is owned.
            let raw = unsafe {
                libc::timerfd_create(
                    libc::CLOCK_MONOTONIC,
                    libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
                )
            };
            if raw < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: `raw` is a new descriptor nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            // SAFETY: the OwnedFd stays open, and the same descriptor, for as long as the
            // AsyncFd owns it.
            let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
                .map_err(|e| e.into_parts().1)?;
            Ok(Self { fd })
        }

        /// Arms the timer for `at` (relative to now: the runtime's clock is CLOCK_MONOTONIC).
        pub fn arm(&mut self, at: Instant) {
            // Zero would disarm it: a deadline already passed fires in 1 ns.
            let d = at
                .saturating_duration_since(Instant::now())
                .max(std::time::Duration::from_nanos(1));
            let spec = libc::itimerspec {
                it_interval: libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
                it_value: libc::timespec {
                    tv_sec: d.as_secs() as libc::time_t,
                    tv_nsec: d.subsec_nanos() as libc::c_long,
                },
            };
            // SAFETY: a valid timerfd and a valid itimerspec; the old value is not wanted.
            let rc = unsafe {
                libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut())
            };
            debug_assert_eq!(rc, 0, "timerfd_settime on our own timerfd");
        }

        /// Returns at or after `at`: a readiness left from an earlier arming waits again.
        pub async fn wait(&mut self, at: Instant) {
            loop {
                if Instant::now() >= at {
                    return;
                }
                match self.fd.readable().await {
                    Ok(mut ready) => ready.clear_ready(),
                    // Cannot happen for a registered timerfd; fall back to the coarse timer.
                    Err(_) => return tokio::time::sleep_until(at).await,
                }
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod exact {
    use tokio::time::Instant;

    /// No exact timer off Linux: `Alarm` ticks.
    pub struct Timer;

    impl Timer {
        pub fn new() -> std::io::Result<Self> {
            Err(std::io::Error::other("timerfd is Linux only"))
        }
        pub fn arm(&mut self, _at: Instant) {}
        pub async fn wait(&mut self, _at: Instant) {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn exact_and_tick_alarms_never_ring_early() {
        let mut alarm = Alarm::new(Instant::now());
        for (i, exact) in [true, false, true, true, false].into_iter().enumerate() {
            let at = Instant::now() + Duration::from_micros(300 + 200 * i as u64);
            alarm.set(at, || exact);
            alarm.ring().await;
            assert!(
                Instant::now() >= at,
                "round {i} (exact: {exact}) rang early"
            );
        }
        // Re-armed before it fired: the first deadline is forgotten, the second kept.
        let later = Instant::now() + Duration::from_millis(3);
        alarm.set(Instant::now() + Duration::from_micros(100), || true);
        alarm.set(later, || true);
        alarm.ring().await;
        assert!(Instant::now() >= later);
    }
}
