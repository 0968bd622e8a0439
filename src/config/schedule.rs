//! A plan's `schedule:` section: cron or fixed interval, overlap policy, jitter and
//! starting deadline, and the fire-time arithmetic over them (pure, no clock).
//!
//! Cron dialect (croner): 5 fields (`min hour dom month dow`) or 6 with leading seconds,
//! plus `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`. Times are in the plan's
//! `timezone` (IANA name, default UTC). Daylight-saving rule: a local time skipped by a
//! spring-forward gap runs at the first valid instant after it; a local time repeated by a
//! fall-back fold runs once (its first occurrence).
//!
//! The arithmetic lives beside the type rather than in `schedule/` because validation needs
//! it (a cron that never fires, a run longer than its period); `schedule/` decides what to do
//! on waking and runs the timer loop.

use super::error::Collector;
use super::raw::{RawSchedule, S};
use super::rules::duration;
use crate::sync::LockExt;
use chrono::{DateTime, Utc};
use croner::parser::{CronParser, Seconds, Year};
use std::sync::Arc;
use std::time::Duration;

/// What happens when a run is due while the previous one still runs (Kubernetes CronJob).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// Start anyway.
    Allow,
    /// Skip the new run and count it.
    Forbid,
    /// Cancel the running one, then start.
    Replace,
}

/// Cron or fixed interval.
#[derive(Debug, Clone)]
pub enum ScheduleKind {
    Cron {
        /// Shared by every plan with the same expression ([`shared_cron`]).
        cron: Arc<croner::Cron>,
        tz: chrono_tz::Tz,
        text: String,
    },
    Every(Duration),
}

/// A validated schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub kind: ScheduleKind,
    pub overlap: Overlap,
    /// Random delay in `0..=jitter` added to each fire, to spread load.
    pub jitter: Duration,
    /// A fire later than this (after a suspend or downtime) is counted as missed.
    pub starting_deadline: Duration,
}

impl Schedule {
    /// Human text, e.g. `cron "0 2 * * 1" (Europe/Berlin)` or `every 5m`.
    pub fn describe(&self) -> String {
        match &self.kind {
            ScheduleKind::Cron { text, tz, .. } => format!("cron {text:?} ({tz})"),
            ScheduleKind::Every(d) => format!("every {}", humantime::format_duration(*d)),
        }
    }
}

/// The first fire strictly after `after`. `Every` schedules fire on multiples of their
/// period since the Unix epoch, so restarts keep the cadence.
pub fn next_fire(s: &Schedule, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match &s.kind {
        ScheduleKind::Cron { cron, tz, .. } => cron
            .find_next_occurrence(&after.with_timezone(tz), false)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        ScheduleKind::Every(period) => {
            let p = period.as_millis().max(1) as i64;
            let now = after.timestamp_millis();
            DateTime::from_timestamp_millis((now.div_euclid(p) + 1) * p)
        }
    }
}

/// The last fire at or before `at`.
pub fn prev_fire(s: &Schedule, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match &s.kind {
        ScheduleKind::Cron { cron, tz, .. } => cron
            .find_previous_occurrence(&at.with_timezone(tz), true)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        ScheduleKind::Every(period) => {
            let p = period.as_millis().max(1) as i64;
            DateTime::from_timestamp_millis(at.timestamp_millis().div_euclid(p) * p)
        }
    }
}

/// Validates a plan's schedule; `run_length` is the plan's scheduled duration (A6).
pub(super) fn schedule(
    c: &mut Collector,
    s: &RawSchedule,
    path: &str,
    run_length: Option<Duration>,
    request_timeout: Option<Duration>,
) -> Option<Schedule> {
    let tz = timezone(c, s, path);
    let kind = match (&s.cron, &s.every) {
        (Some(cr), None) => {
            match shared_cron(&cr.value).and_then(|cron| fires(cron, tz, &cr.value)) {
                Ok(cron) => Some(ScheduleKind::Cron {
                    cron,
                    tz,
                    text: cr.value.trim().to_string(),
                }),
                Err(e) => {
                    c.at(&cr.referenced, &format!("{path}.cron"), e);
                    None
                }
            }
        }
        (None, Some(ev)) => duration(c, ev, &format!("{path}.every"), Duration::from_secs(1))
            .map(ScheduleKind::Every),
        _ => {
            c.nowhere(path, "set exactly one of `cron` or `every`");
            None
        }
    };
    let overlap = super::rules::keyword(
        c,
        s.overlap.as_ref(),
        &format!("{path}.overlap"),
        &[
            ("allow", Overlap::Allow),
            ("forbid", Overlap::Forbid),
            ("replace", Overlap::Replace),
        ],
        Overlap::Forbid,
    )
    .unwrap_or(Overlap::Forbid);
    let opt = |c: &mut Collector, v: &Option<S<String>>, f: &str| {
        v.as_ref()
            .and_then(|d| duration(c, d, &format!("{path}.{f}"), Duration::from_millis(1)))
    };
    let jitter = opt(c, &s.jitter, "jitter").unwrap_or_default();
    let starting_deadline = opt(c, &s.starting_deadline, "starting_deadline");
    let kind = kind?;
    let schedule = Schedule {
        kind,
        overlap,
        jitter,
        starting_deadline: starting_deadline.unwrap_or(Duration::from_secs(60)),
    };
    // A6: a run, or one request, longer than the period would always overlap; say so unless
    // a policy was chosen.
    if s.overlap.is_none() {
        warn_overlap(c, s, &schedule, path, (run_length, request_timeout));
    }
    Some(schedule)
}

/// `timezone` (UTC when not given).
fn timezone(c: &mut Collector, s: &RawSchedule, path: &str) -> chrono_tz::Tz {
    match &s.timezone {
        None => chrono_tz::UTC,
        Some(t) => match t.value.parse::<chrono_tz::Tz>() {
            Ok(tz) => tz,
            Err(_) => {
                c.at(
                    &t.referenced,
                    &format!("{path}.timezone"),
                    format!(
                        "{:?} is not an IANA time zone name, e.g. UTC or Europe/Berlin",
                        t.value
                    ),
                );
                chrono_tz::UTC
            }
        },
    }
}

/// Says when a run (`lengths.0`), or one request (`lengths.1`, the target's timeout), takes
/// longer than the schedule's period.
fn warn_overlap(
    c: &mut Collector,
    s: &RawSchedule,
    schedule: &Schedule,
    path: &str,
    lengths: (Option<Duration>, Option<Duration>),
) {
    let (run_length, request_timeout) = lengths;
    let period = next_fire(schedule, Utc::now())
        .and_then(|a| Some((next_fire(schedule, a)? - a).to_std().unwrap_or_default()));
    let loc = s
        .cron
        .as_ref()
        .or(s.every.as_ref())
        .map(|x| x.referenced)
        .unwrap_or(serde_saphyr::Location::UNKNOWN);
    let fmt = humantime::format_duration;
    if let Some(period) = period {
        if let Some(len) = run_length.filter(|len| *len > period) {
            c.at(&loc, path, format!(
                "a run takes {} but the schedule fires every {}; set `overlap: forbid | allow | replace` to say what should happen",
                fmt(len), fmt(period)
            ));
        } else if let Some(t) = request_timeout.filter(|t| *t > period) {
            c.at(&loc, path, format!(
                "a request may take up to {} (the target's timeout) but the schedule fires every {}; lower the timeout or set `overlap: forbid | allow | replace` to say what should happen",
                fmt(t), fmt(period)
            ));
        }
    }
}

/// A cron expression that can never match (`0 0 30 2 *`, February 30) is refused: a plan on
/// it would silently never run.
fn fires(
    cron: Arc<croner::Cron>,
    tz: chrono_tz::Tz,
    text: &str,
) -> Result<Arc<croner::Cron>, String> {
    match cron.find_next_occurrence(&Utc::now().with_timezone(&tz), false) {
        Ok(_) => Ok(cron),
        Err(_) => Err(format!(
            "{:?} never fires (no date matches it, e.g. February 30); check the day of month and month",
            text.trim()
        )),
    }
}

/// A parsed cron expression, shared with every live plan that uses the same text. A parsed
/// expression holds a bitfield per field (about 5 KiB each: 10,000 plans on cron schedules
/// kept 54 MiB of them), and a fleet of plans repeats a few hundred texts. Entries whose plans
/// are gone are dropped as the cache grows.
fn shared_cron(text: &str) -> Result<Arc<croner::Cron>, String> {
    static CACHE: std::sync::LazyLock<
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Weak<croner::Cron>>>,
    > = std::sync::LazyLock::new(Default::default);
    let key = text.trim();
    let mut cache = CACHE.locked();
    if let Some(cron) = cache.get(key).and_then(std::sync::Weak::upgrade) {
        return Ok(cron);
    }
    let cron = Arc::new(parse_cron(key)?);
    if cache.len() >= 1024 {
        cache.retain(|_, c| c.strong_count() > 0);
    }
    cache.insert(key.to_string(), Arc::downgrade(&cron));
    Ok(cron)
}

fn parse_cron(text: &str) -> Result<croner::Cron, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("cron expression is empty; write 5 fields (min hour dom month dow), 6 with seconds, or @hourly/@daily/@weekly".into());
    }
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
        .parse(t)
        .map_err(|e| format!("{t:?} is not a valid cron expression ({e}); write 5 fields (min hour dom month dow), 6 with leading seconds, or @hourly/@daily/@weekly"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn cron(text: &str, tz: chrono_tz::Tz) -> Schedule {
        Schedule {
            kind: ScheduleKind::Cron {
                cron: Arc::new(parse_cron(text).unwrap()),
                tz,
                text: text.into(),
            },
            overlap: Overlap::Forbid,
            jitter: Duration::ZERO,
            starting_deadline: Duration::from_secs(60),
        }
    }

    #[test]
    fn b3_spring_forward_gap_runs_at_the_first_valid_instant_in_two_zones() {
        // 2026-03-29 02:30 does not exist in Berlin (02:00 → 03:00).
        let s = cron("30 2 * * *", chrono_tz::Europe::Berlin);
        let before = Utc.with_ymd_and_hms(2026, 3, 28, 23, 0, 0).unwrap();
        let fire = next_fire(&s, before)
            .unwrap()
            .with_timezone(&chrono_tz::Europe::Berlin);
        assert_eq!(
            fire.format("%Y-%m-%d %H:%M").to_string(),
            "2026-03-29 03:00"
        );
        // 2026-03-08 02:30 does not exist in New York.
        let s = cron("30 2 * * *", chrono_tz::America::New_York);
        let before = Utc.with_ymd_and_hms(2026, 3, 8, 5, 0, 0).unwrap();
        let fire = next_fire(&s, before)
            .unwrap()
            .with_timezone(&chrono_tz::America::New_York);
        assert_eq!(
            fire.format("%Y-%m-%d %H:%M").to_string(),
            "2026-03-08 03:00"
        );
    }

    #[test]
    fn b4_fall_back_fold_runs_a_daily_job_once_in_two_zones() {
        for (tz, day) in [
            (chrono_tz::Europe::Berlin, (2026, 10, 25)),
            (chrono_tz::America::New_York, (2026, 11, 1)),
        ] {
            let s = cron("30 1 * * *", tz);
            let start = tz
                .with_ymd_and_hms(day.0, day.1, day.2, 0, 0, 0)
                .unwrap()
                .with_timezone(&Utc);
            let first = next_fire(&s, start).unwrap();
            let second = next_fire(&s, first).unwrap();
            assert!(
                (second - first).num_hours() >= 23,
                "{tz}: {first} then {second}"
            );
        }
    }

    #[test]
    fn b8_ten_thousand_consecutive_one_second_ticks_all_fire() {
        let s = cron("* * * * * *", chrono_tz::UTC);
        let mut t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        for _ in 0..10_000 {
            let next = next_fire(&s, t).unwrap();
            assert_eq!((next - t).num_milliseconds(), 1000);
            t = next;
        }
    }

    #[test]
    fn every_keeps_its_cadence_across_restarts() {
        let s = Schedule {
            kind: ScheduleKind::Every(Duration::from_secs(300)),
            overlap: Overlap::Forbid,
            jitter: Duration::ZERO,
            starting_deadline: Duration::from_secs(60),
        };
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 10, 7, 13).unwrap();
        assert_eq!(
            next_fire(&s, t).unwrap(),
            Utc.with_ymd_and_hms(2026, 1, 1, 10, 10, 0).unwrap()
        );
    }

    #[test]
    fn a8_invalid_cron_is_explained() {
        assert!(parse_cron("61 * * * *")
            .unwrap_err()
            .contains("not a valid cron"));
        assert!(parse_cron("* * *")
            .unwrap_err()
            .contains("not a valid cron"));
        assert!(parse_cron("  ").unwrap_err().contains("empty"));
        assert!(parse_cron("@hourly").is_ok());
        assert!(parse_cron("*/5 * * * * *").is_ok());
    }
}
