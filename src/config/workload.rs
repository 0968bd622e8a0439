//! Workloads: named load shapes, each with its own scenarios (and optionally its own target and
//! a start offset), that run at the same time in one run and are judged together. A plan with
//! one `load` and one list of `scenarios` is one workload named [`DEFAULT_WORKLOAD`].

use super::error::Collector;
use super::load::{load, LoadShape, LoadSpec};
use super::raw::{RawLoad, RawPlan, RawScenario, S};
use super::rules::{check_name, duration};
use super::steps::{ScenarioSpec, StepCompiler};
use super::{Limits, TargetSpec};
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

/// The name of a plan's only workload when it has no `workloads` block.
pub const DEFAULT_WORKLOAD: &str = "default";

/// A compiled workload.
#[derive(Debug, Clone)]
pub struct WorkloadSpec {
    pub name: String,
    pub load: LoadSpec,
    /// Its scenarios: a range of the plan's `scenarios`.
    pub scenarios: Range<usize>,
    /// Its own target; `None`: the plan's.
    pub target: Option<Arc<TargetSpec>>,
    /// When it starts, from the start of the load.
    pub start: Duration,
}

impl WorkloadSpec {
    /// When its schedule ends, from the start of the load.
    pub fn end(&self) -> Duration {
        self.start + self.load.duration()
    }

    /// Its intended arrival rate at `t` from the start of the load (open model; 0 outside
    /// its phases and for the closed model).
    pub fn rate_at(&self, t: Duration) -> f64 {
        let LoadShape::Open { phases, .. } = &self.load.shape else {
            return 0.0;
        };
        let Some(mut t) = t.checked_sub(self.start) else {
            return 0.0;
        };
        for p in phases {
            if t < p.duration {
                let f = t.as_secs_f64() / p.duration.as_secs_f64().max(1e-9);
                return p.rate + (p.ramp_to - p.rate) * f;
            }
            t -= p.duration;
        }
        0.0
    }

    /// The times at which its rate may change: its start and every phase boundary.
    fn breakpoints(&self) -> Vec<Duration> {
        let mut at = vec![self.start];
        if let LoadShape::Open { phases, .. } = &self.load.shape {
            for p in phases {
                let last = *at.last().expect("not empty");
                at.push(last + p.duration);
            }
        }
        at
    }
}

/// The highest summed open-model arrival rate of workloads running at once. Rates are piecewise
/// linear, so the peak is at a breakpoint, reached from one side or the other.
pub fn peak_rate(workloads: &[WorkloadSpec]) -> f64 {
    let eps = Duration::from_micros(1);
    workloads
        .iter()
        .flat_map(WorkloadSpec::breakpoints)
        .flat_map(|t| [t.saturating_sub(eps), t])
        .map(|t| workloads.iter().map(|w| w.rate_at(t)).sum::<f64>())
        .fold(0.0, f64::max)
}

/// What a plan's scenarios and workloads compile to.
pub(super) struct Compiled {
    pub scenarios: Vec<ScenarioSpec>,
    pub workloads: Vec<WorkloadSpec>,
    /// Secrets of the workloads' own targets.
    pub secrets: Vec<String>,
}

/// A target lookup: its spec and secrets, or `None` after reporting why.
pub(super) type FindTarget<'a> =
    dyn FnMut(&mut Collector, &S<String>, &str) -> Option<(Arc<TargetSpec>, Vec<String>)> + 'a;

/// Compiles the plan's `load` and `scenarios`, or its `workloads`: exactly one of the two.
pub(super) fn workloads(
    c: &mut Collector,
    limits: &Limits,
    p: &RawPlan,
    path: &str,
    steps: &mut StepCompiler<'_>,
    find_target: &mut FindTarget<'_>,
) -> Compiled {
    let mut out = Compiled {
        scenarios: Vec::new(),
        workloads: Vec::new(),
        secrets: Vec::new(),
    };
    let Some(raw) = &p.workloads else {
        let one = Part {
            name: DEFAULT_WORKLOAD,
            load: p.load.as_ref(),
            scenarios: &p.scenarios,
            target: None,
            start: Duration::ZERO,
        };
        one.compile(c, limits, path, steps, &mut out);
        return out;
    };
    if p.load.is_some() || !p.scenarios.is_empty() {
        c.nowhere(
            &format!("{path}.workloads"),
            "a plan has either `load` and `scenarios` or `workloads`, not both: move them into a workload",
        );
    }
    if raw.is_empty() {
        c.nowhere(
            &format!("{path}.workloads"),
            "must name at least one workload",
        );
    }
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (key, w) in raw {
        let name = key.as_str();
        let wp = format!("{path}.workloads.{name}");
        if let Err(why) = check_name(name) {
            c.at(&key.0.referenced, &wp, format!("workload name {why}"));
        }
        for (i, s) in w.scenarios.iter().enumerate() {
            if let Some(other) = seen.insert(s.name.value.clone(), name.to_string()) {
                c.at(
                    &s.name.referenced,
                    &format!("{wp}.scenarios[{i}].name"),
                    format!(
                        "scenario name {:?} is already used in workload {other:?}; scenario names are unique in a plan (they label its figures)",
                        s.name.value
                    ),
                );
            }
        }
        let target = w.target.as_ref().and_then(|t| {
            let (spec, secrets) = find_target(c, t, &format!("{wp}.target"))?;
            out.secrets.extend(secrets);
            Some(spec)
        });
        let start = w
            .start
            .as_ref()
            .and_then(|s| duration(c, s, &format!("{wp}.start"), Duration::ZERO))
            .unwrap_or_default();
        let part = Part {
            name,
            load: w.load.as_ref(),
            scenarios: &w.scenarios,
            target,
            start,
        };
        part.compile(c, limits, &wp, steps, &mut out);
    }
    out
}

/// One workload before compiling.
struct Part<'a> {
    name: &'a str,
    load: Option<&'a RawLoad>,
    scenarios: &'a [RawScenario],
    target: Option<Arc<TargetSpec>>,
    start: Duration,
}

impl Part<'_> {
    fn compile(
        self,
        c: &mut Collector,
        limits: &Limits,
        path: &str,
        steps: &mut StepCompiler<'_>,
        out: &mut Compiled,
    ) {
        let load = match self.load {
            Some(l) => load(c, limits, l, &format!("{path}.load")),
            None => {
                c.nowhere(
                    &format!("{path}.load"),
                    "is required: open-model `phases`, closed-model `vus`, a `preset` or `users`",
                );
                None
            }
        };
        let first = out.scenarios.len();
        out.scenarios
            .extend(steps.scenarios(c, self.scenarios, &format!("{path}.scenarios")));
        if let Some(load) = load {
            out.workloads.push(WorkloadSpec {
                name: self.name.to_string(),
                load,
                scenarios: first..out.scenarios.len(),
                target: self.target,
                start: self.start,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Phase;

    fn open(start: u64, phases: &[(u64, f64, f64)]) -> WorkloadSpec {
        WorkloadSpec {
            name: "w".into(),
            load: LoadSpec {
                shape: LoadShape::Open {
                    phases: phases
                        .iter()
                        .map(|&(d, rate, ramp_to)| Phase {
                            name: String::new(),
                            duration: Duration::from_secs(d),
                            rate,
                            ramp_to,
                        })
                        .collect(),
                    max_in_flight: 10,
                },
                iterations: None,
                graceful_stop: Duration::ZERO,
                preset: None,
                dispatch: Default::default(),
            },
            scenarios: 0..1,
            target: None,
            start: Duration::from_secs(start),
        }
    }

    #[test]
    fn the_peak_adds_only_workloads_that_overlap() {
        // A steady 100/s for 60 s, a spike of 500/s from 60 s: never together.
        let apart = [
            open(0, &[(60, 100.0, 100.0)]),
            open(60, &[(10, 500.0, 500.0)]),
        ];
        assert_eq!(peak_rate(&apart), 500.0);
        // The same spike at 30 s lands on top of the steady load.
        let together = [
            open(0, &[(60, 100.0, 100.0)]),
            open(30, &[(10, 500.0, 500.0)]),
        ];
        assert_eq!(peak_rate(&together), 600.0);
        // A ramp to 300 ending at 20 s, while a steady 50/s runs: 350 just before 20 s.
        let ramp = [open(0, &[(20, 0.0, 300.0)]), open(0, &[(40, 50.0, 50.0)])];
        assert!(
            (peak_rate(&ramp) - 350.0).abs() < 0.1,
            "{}",
            peak_rate(&ramp)
        );
    }
}
