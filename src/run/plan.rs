//! Every load shape becomes one schedule before it runs: exact arrival times for the open
//! model, a VU count over time for the closed model. Both are pure functions of elapsed time,
//! so they are tested without a clock.

use crate::config::{LoadShape, Phase, Stage};
use std::time::Duration;

/// Which share of a distributed run this process runs: `index` of `count` (0-based),
/// written `I/N` (1-based) wherever it is shown or stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Segment {
    pub index: u64,
    pub count: u64,
}

impl std::fmt::Display for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&format!("{}/{}", self.index + 1, self.count))
    }
}

impl TryFrom<String> for Segment {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Segment::parse(&s)
    }
}

impl From<Segment> for String {
    fn from(s: Segment) -> String {
        s.to_string()
    }
}

impl Segment {
    /// The whole plan.
    pub const WHOLE: Segment = Segment { index: 0, count: 1 };

    /// Parses `I/N` with 1 <= I <= N (1-based, as users count instances).
    pub fn parse(s: &str) -> Result<Segment, String> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("segment {s:?} must be I/N, e.g. 2/4"))?;
        let (i, n): (u64, u64) = match (i.trim().parse(), n.trim().parse()) {
            (Ok(i), Ok(n)) => (i, n),
            _ => return Err(format!("segment {s:?} must be two whole numbers I/N")),
        };
        if n == 0 || i == 0 || i > n || n > 10_000 {
            return Err(format!("segment {s:?} needs 1 <= I <= N <= 10000"));
        }
        Ok(Segment {
            index: i - 1,
            count: n,
        })
    }
}

/// Arrival times of an open-model schedule. Arrival `k` (0-based, over the whole plan) is
/// due when the integral of the rate reaches `k`, so 50/s for 10 s gives exactly 500
/// arrivals at 0, 20 ms, 40 ms, … and ramps follow the rate curve exactly.
#[derive(Debug, Clone)]
pub struct ArrivalSchedule {
    /// (start offset, duration, from rate, to rate, arrivals before this phase)
    phases: Vec<(f64, f64, f64, f64, f64)>,
    total: f64,
    total_secs: f64,
}

impl ArrivalSchedule {
    /// Builds the schedule of a list of phases.
    pub fn new(phases: &[Phase]) -> Self {
        let mut start = 0.0;
        let mut before = 0.0;
        let mut out = Vec::with_capacity(phases.len());
        for p in phases {
            let d = p.duration.as_secs_f64();
            out.push((start, d, p.rate, p.ramp_to, before));
            before += (p.rate + p.ramp_to) / 2.0 * d;
            start += d;
        }
        Self {
            phases: out,
            total: before,
            total_secs: start,
        }
    }

    /// Expected number of arrivals in the whole schedule.
    pub fn expected_arrivals(&self) -> f64 {
        self.total
    }

    /// Scheduled length.
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.total_secs)
    }

    /// When arrival `k` is due, or `None` past the end.
    pub fn nth(&self, k: u64) -> Option<Duration> {
        let x = k as f64;
        if x >= self.total - 1e-9 {
            return None;
        }
        let &(start, d, a, b, before) = self
            .phases
            .iter()
            .rev()
            .find(|p| p.4 <= x + 1e-9 && (p.2 + p.3) > 0.0)?;
        let x = (x - before).max(0.0);
        let q = (b - a) / (2.0 * d);
        // Solves a·t + q·t² = x in a form that is stable when q is tiny or a is zero.
        let root = (a * a + 4.0 * q * x).max(0.0).sqrt();
        let t = if a + root > 0.0 {
            2.0 * x / (a + root)
        } else {
            0.0
        };
        let at = start + t.min(d);
        (at < self.total_secs).then(|| Duration::from_secs_f64(at))
    }

    /// The intended rate at elapsed time `t`.
    pub fn rate_at(&self, t: Duration) -> f64 {
        let t = t.as_secs_f64();
        self.phases
            .iter()
            .find(|p| t >= p.0 && t < p.0 + p.1)
            .map(|&(s, d, a, b, _)| a + (b - a) * (t - s) / d)
            .unwrap_or(0.0)
    }

    /// The name index of the phase at `t`.
    pub fn phase_at(&self, t: Duration) -> Option<usize> {
        let t = t.as_secs_f64();
        self.phases.iter().position(|p| t >= p.0 && t < p.0 + p.1)
    }
}

/// VU count over time of a closed-model schedule; each stage ramps linearly from the previous
/// target (0 at the start) to its own.
#[derive(Debug, Clone)]
pub struct VuSchedule {
    stages: Vec<Stage>,
}

impl VuSchedule {
    pub fn new(stages: &[Stage]) -> Self {
        Self {
            stages: stages.to_vec(),
        }
    }

    /// Scheduled length.
    pub fn duration(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }

    /// Target VUs at elapsed time `t` (0 past the end).
    pub fn vus_at(&self, t: Duration) -> u64 {
        let mut start = Duration::ZERO;
        let mut from = 0u64;
        for s in &self.stages {
            if t < start + s.duration {
                let f = (t - start).as_secs_f64() / s.duration.as_secs_f64();
                return (from as f64 + (s.target as f64 - from as f64) * f).round() as u64;
            }
            start += s.duration;
            from = s.target;
        }
        0
    }

    /// Highest VU count of the schedule.
    pub fn peak(&self) -> u64 {
        self.stages.iter().map(|s| s.target).max().unwrap_or(0)
    }
}

/// How many of the first `total` global ids (0-based) fall to `share` of `shares`
/// (ids are dealt round-robin).
pub fn share_of(total: u64, share: u64, shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    total / shares + u64::from(share < total % shares)
}

/// The schedule a plan's load shape becomes.
#[derive(Debug, Clone)]
pub enum LoadSchedule {
    Open {
        arrivals: ArrivalSchedule,
        max_in_flight: u64,
    },
    Closed(VuSchedule),
}

impl LoadSchedule {
    /// Normalises a load shape.
    pub fn of(shape: &LoadShape) -> Self {
        match shape {
            LoadShape::Open {
                phases,
                max_in_flight,
            } => LoadSchedule::Open {
                arrivals: ArrivalSchedule::new(phases),
                max_in_flight: *max_in_flight,
            },
            LoadShape::Closed { stages } => LoadSchedule::Closed(VuSchedule::new(stages)),
        }
    }

    /// Scheduled length.
    pub fn duration(&self) -> Duration {
        match self {
            LoadSchedule::Open { arrivals, .. } => arrivals.duration(),
            LoadSchedule::Closed(v) => v.duration(),
        }
    }

    /// True for a closed-model (VU) schedule.
    pub fn is_closed(&self) -> bool {
        matches!(self, LoadSchedule::Closed(_))
    }

    /// The whole-plan target at `t`: arrivals per second, or VUs.
    pub fn target_at(&self, t: Duration) -> f64 {
        match self {
            LoadSchedule::Open { arrivals, .. } => arrivals.rate_at(t),
            LoadSchedule::Closed(v) => v.vus_at(t) as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(secs: u64, rate: f64, ramp_to: f64) -> Phase {
        Phase {
            name: "p".into(),
            duration: Duration::from_secs(secs),
            rate,
            ramp_to,
        }
    }

    fn count_until(s: &ArrivalSchedule, from: f64, to: f64) -> usize {
        (0..)
            .map_while(|k| s.nth(k))
            .filter(|t| t.as_secs_f64() >= from && t.as_secs_f64() < to)
            .count()
    }

    #[test]
    fn constant_rate_gives_exact_count_and_spacing() {
        let s = ArrivalSchedule::new(&[phase(10, 50.0, 50.0)]);
        let all: Vec<_> = (0..).map_while(|k| s.nth(k)).collect();
        assert_eq!(all.len(), 500);
        assert_eq!(all[1], Duration::from_millis(20));
        for w in 0..10 {
            assert_eq!(count_until(&s, w as f64, w as f64 + 1.0), 50);
        }
    }

    #[test]
    fn ramp_follows_the_rate_curve_and_reaches_its_end_rate() {
        let s = ArrivalSchedule::new(&[phase(10, 0.0, 100.0), phase(5, 100.0, 100.0)]);
        let total = (0..).map_while(|k| s.nth(k)).count();
        assert_eq!(total, 500 + 500);
        // Second 9..10 of the ramp averages 95/s; the plateau runs at 100/s.
        assert!((count_until(&s, 9.0, 10.0) as i64 - 95).abs() <= 1);
        assert_eq!(count_until(&s, 11.0, 12.0), 100);
        let times: Vec<_> = (0..).map_while(|k| s.nth(k)).collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "arrivals are ordered"
        );
    }

    #[test]
    fn fractional_rates_and_zero_phases() {
        let s =
            ArrivalSchedule::new(&[phase(10, 0.5, 0.5), phase(5, 0.0, 0.0), phase(2, 1.0, 1.0)]);
        let times: Vec<_> = (0..).map_while(|k| s.nth(k)).collect();
        assert_eq!(times.len(), 7);
        assert_eq!(times[5], Duration::from_secs(15));
    }

    #[test]
    fn vus_ramp_up_hold_and_down() {
        let v = VuSchedule::new(&[
            Stage {
                duration: Duration::from_secs(10),
                target: 20,
            },
            Stage {
                duration: Duration::from_secs(10),
                target: 20,
            },
            Stage {
                duration: Duration::from_secs(10),
                target: 0,
            },
        ]);
        assert_eq!(v.vus_at(Duration::ZERO), 0);
        assert_eq!(v.vus_at(Duration::from_secs(5)), 10);
        assert_eq!(v.vus_at(Duration::from_secs(15)), 20);
        assert_eq!(v.vus_at(Duration::from_secs(25)), 10);
        assert_eq!(v.vus_at(Duration::from_secs(31)), 0);
    }

    #[test]
    fn segments_add_up_to_the_whole() {
        assert_eq!(
            Segment::parse("2/4").unwrap(),
            Segment { index: 1, count: 4 }
        );
        assert!(Segment::parse("0/4").is_err());
        assert!(Segment::parse("5/4").is_err());
        let total: u64 = (0..4).map(|i| share_of(10, i, 4)).sum();
        assert_eq!(total, 10);
        assert_eq!(share_of(10, 0, 4), 3);
        assert_eq!(share_of(10, 3, 4), 2);
    }
}
