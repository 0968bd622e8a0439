//! Grade bands: the `grades:` table of a plan or of one step (excellent, good, acceptable;
//! anything worse is poor), with latency, error-rate and optional throughput bounds.

use super::error::Collector;
use super::raw::{RawGrade, RawPlan};
use super::rules::duration;
use std::collections::BTreeMap;
use std::time::Duration;

/// A run's or a request's grade, best first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    Excellent,
    Good,
    Acceptable,
    /// None of the plan's bands was met.
    Poor,
}

impl Grade {
    /// The grades a plan may bound (anything worse is `poor`).
    pub const BANDED: [Grade; 3] = [Grade::Excellent, Grade::Good, Grade::Acceptable];

    pub fn as_str(self) -> &'static str {
        match self {
            Grade::Excellent => "excellent",
            Grade::Good => "good",
            Grade::Acceptable => "acceptable",
            Grade::Poor => "poor",
        }
    }
}

impl std::fmt::Display for Grade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Latency and error-rate bounds of one grade.
#[derive(Debug, Clone, PartialEq)]
pub struct GradeBand {
    pub grade: Grade,
    pub p95: Duration,
    pub error_rate: f64,
    /// Lowest requests (or messages) per second, when set.
    pub throughput: Option<f64>,
}

pub(super) fn grades(c: &mut Collector, p: &RawPlan, path: &str) -> Vec<GradeBand> {
    grade_bands(c, p.grades.as_ref(), path)
}

/// A `grades:` table (of a plan or of one step), best first.
pub(in crate::config) fn grade_bands(
    c: &mut Collector,
    raw: Option<&BTreeMap<String, RawGrade>>,
    path: &str,
) -> Vec<GradeBand> {
    let Some(raw) = raw else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, g) in raw {
        let gp = format!("{path}.grades.{name}");
        let Some(grade) = Grade::BANDED.into_iter().find(|b| b.as_str() == name) else {
            c.at(&g.p95.referenced, &gp, format!("grade {name:?} is unknown; use excellent, good and acceptable (anything worse is poor)"));
            continue;
        };
        let p95 = duration(c, &g.p95, &format!("{gp}.p95"), Duration::from_micros(1));
        if !(0.0..=1.0).contains(&g.error_rate.value) {
            c.at(
                &g.error_rate.referenced,
                &format!("{gp}.error_rate"),
                format!("{} must be a ratio between 0 and 1", g.error_rate.value),
            );
        }
        let throughput = g.throughput.as_ref().and_then(|t| {
            let ok = t.value.is_finite() && t.value >= 0.0;
            if !ok {
                c.at(
                    &t.referenced,
                    &format!("{gp}.throughput"),
                    format!(
                        "{} must be a number of requests (or messages) per second, 0 or more",
                        t.value
                    ),
                );
            }
            ok.then_some(t.value)
        });
        if let Some(p95) = p95 {
            out.push(GradeBand {
                grade,
                p95,
                error_rate: g.error_rate.value,
                throughput,
            });
        }
    }
    out.sort_by_key(|g| g.grade);
    out
}
