//! Run-time changes to a loaded config: `run --target NAME=URL` points a target elsewhere, and
//! `--scale F` (also the daemon's trigger API) multiplies every rate and VU count. Both are
//! checked like the file is: the allowlist for a URL, the limits for a scaled load.

use super::error::Collector;
use super::load::LoadShape;
use super::raw::S;
use super::target::check_url;
use super::{peak_rate, Config, Limits, PlanSpec, TargetSpec, Transport};
use std::sync::Arc;

/// The largest `--scale` accepted (the limits usually bind far earlier).
pub const MAX_SCALE: f64 = 1000.0;

impl Config {
    /// `--target URL`: the only target the plans use, sent to `url`.
    pub fn with_only_target_url(&self, url: &str) -> Result<Config, String> {
        let names = self.target_names();
        match names.as_slice() {
            [one] => self.with_target_url(one, url),
            _ => Err(format!(
                "--target {url}: the plans use {} targets ({}); name one: --target NAME={url}",
                names.len(),
                names.join(", ")
            )),
        }
    }

    /// The names of the targets the plans and their workloads use.
    fn target_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .plans
            .iter()
            .flat_map(|p| {
                std::iter::once(p.target.name.clone()).chain(
                    p.workloads
                        .iter()
                        .filter_map(|w| Some(w.target.as_ref()?.name.clone())),
                )
            })
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// This config with target `name` sent to `url` in every plan and workload that uses it.
    pub fn with_target_url(&self, name: &str, url: &str) -> Result<Config, String> {
        let mut c = Collector::new("--target");
        let spanned = S {
            value: url.to_string(),
            referenced: serde_saphyr::Location::UNKNOWN,
            defined: serde_saphyr::Location::UNKNOWN,
        };
        let checked = check_url(&mut c, &self.limits, &spanned, name);
        let Some(base_url) = checked else {
            let errors = c.into_errors();
            let why = errors
                .0
                .first()
                .map(|e| e.message.clone())
                .unwrap_or_default();
            return Err(format!("--target {name}={url}: {why}"));
        };
        let mut names: Vec<&str> = self
            .plans
            .iter()
            .flat_map(|p| {
                std::iter::once(p.target.name.as_str()).chain(
                    p.workloads
                        .iter()
                        .filter_map(|w| Some(w.target.as_ref()?.name.as_str())),
                )
            })
            .collect();
        names.sort_unstable();
        names.dedup();
        if !names.contains(&name) {
            return Err(format!(
                "--target {name}=…: no plan uses a target named {name:?}; the targets are {}",
                names.join(", ")
            ));
        }
        let moved = |t: &Arc<TargetSpec>| -> Result<Arc<TargetSpec>, String> {
            if t.name != name {
                return Ok(t.clone());
            }
            if t.transport == Transport::Direct && base_url.scheme() != "http" {
                return Err(format!(
                    "--target {name}={url}: target {name:?} uses transport direct, which speaks plain http only"
                ));
            }
            Ok(Arc::new(TargetSpec {
                base_url: base_url.clone(),
                ..(**t).clone()
            }))
        };
        let mut out = self.clone();
        for p in &mut out.plans {
            let mut plan = (**p).clone();
            plan.target = moved(&plan.target)?;
            for w in &mut plan.workloads {
                if let Some(t) = &w.target {
                    w.target = Some(moved(t)?);
                }
            }
            *p = Arc::new(plan);
        }
        Ok(out)
    }
}

/// The smallest scale factor; a factor is taken to 3 decimals.
pub const MIN_SCALE: f64 = 0.001;

/// A scale factor as loadpacer uses it: within [`MIN_SCALE`] and [`MAX_SCALE`], rounded to 3
/// decimals (so that `0.5` and `0.5000001` are one scale, in runs and in config hashes).
pub fn check_scale(factor: f64) -> Result<f64, String> {
    let rounded = (factor * 1000.0).round() / 1000.0;
    if !factor.is_finite() || !(MIN_SCALE..=MAX_SCALE).contains(&rounded) {
        let shown = match format!("{factor}") {
            short if short.len() <= 12 => short,
            _ => format!("{factor:e}"),
        };
        return Err(format!(
            "scale {shown} must be a number from {MIN_SCALE} to {MAX_SCALE} (e.g. 0.5 or 2)"
        ));
    }
    Ok(rounded)
}

impl super::Config {
    /// The config hash of a run at `factor` (checked with [`check_scale`]): `HASH-x0.5`, so a
    /// scaled run is never compared with, or merged into, runs at another scale.
    pub fn scaled_hash(&self, factor: f64) -> String {
        format!("{}-x{factor}", self.hash)
    }
}

/// The scale a run's config hash records (`HASH-x0.5` → 0.5; 1 without one).
pub fn scale_of_hash(config_hash: &str) -> f64 {
    config_hash
        .rsplit_once("-x")
        .and_then(|(_, f)| f.parse::<f64>().ok())
        .filter(|f| f.is_finite() && *f > 0.0)
        .unwrap_or(1.0)
}

impl PlanSpec {
    /// This plan with every arrival rate, VU count, `max_in_flight` and iteration limit of
    /// every workload multiplied by `factor`: refused when the rates or VUs leave the limits;
    /// `max_in_flight` stops at `limits.max_in_flight`.
    pub fn scaled(&self, factor: f64, limits: &Limits) -> Result<PlanSpec, String> {
        let factor = check_scale(factor)?;
        let mut plan = self.clone();
        let times = |n: u64| ((n as f64 * factor).round() as u64).max(u64::from(n > 0));
        for w in &mut plan.workloads {
            match &mut w.load.shape {
                LoadShape::Open {
                    phases,
                    max_in_flight,
                } => {
                    for p in phases {
                        p.rate *= factor;
                        p.ramp_to *= factor;
                    }
                    // A bound on concurrency, not load: it grows with the load up to the cap.
                    *max_in_flight = times(*max_in_flight).min(limits.max_in_flight);
                }
                LoadShape::Closed { stages } => {
                    for s in stages.iter_mut() {
                        s.target = times(s.target);
                    }
                    let peak: u64 = stages.iter().map(|s| s.target).max().unwrap_or(0);
                    if peak > limits.max_vus {
                        return Err(format!(
                            "scale {factor}: workload {:?} of plan {:?} would run {peak} VUs, above limits.max_vus ({})",
                            w.name, self.name, limits.max_vus
                        ));
                    }
                }
            }
            w.load.iterations = w.load.iterations.map(times);
        }
        // Rates and counts of work scale with the load; latency and error limits do not.
        plan.thresholds = plan
            .thresholds
            .iter()
            .map(|t| {
                if t.scales_with_load() {
                    t.scaled(factor)
                } else {
                    t.clone()
                }
            })
            .collect();
        let slowest = plan
            .workloads
            .iter()
            .filter_map(|w| match &w.load.shape {
                LoadShape::Open { phases, .. } => Some(phases),
                LoadShape::Closed { .. } => None,
            })
            .flatten()
            .flat_map(|p| [p.rate, p.ramp_to])
            .filter(|r| *r > 0.0)
            .fold(f64::INFINITY, f64::min);
        if slowest < super::rules::MIN_RATE {
            return Err(format!(
                "scale {factor}: plan {:?} would arrive at {slowest:e}/s, below the minimum of {} per second that validate enforces",
                self.name,
                super::rules::MIN_RATE
            ));
        }
        let peak = peak_rate(&plan.workloads);
        if peak > limits.max_rps {
            return Err(format!(
                "scale {factor}: plan {:?} would send {peak:.1} req/s at its peak, above limits.max_rps ({})",
                self.name, limits.max_rps
            ));
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    fn config() -> super::Config {
        crate::config::load_str(
            "limits: { max_rps: 100, max_vus: 50, allow_targets: [127.0.0.0/30] }\ntargets:\n  api: { base_url: \"http://127.0.0.1:9\" }\n  other: { base_url: \"http://127.0.0.1:10\" }\nplans:\n  p:\n    target: api\n    workloads:\n      open: { load: { phases: [{ duration: 1s, rate: 10, ramp_to: 20 }], max_in_flight: 7 }, scenarios: [{ name: a, steps: [{ request: { name: r, url: / } }] }] }\n      closed: { target: other, load: { vus: [{ duration: 1s, target: 5 }] }, scenarios: [{ name: b, steps: [{ request: { name: r, url: / } }] }] }\n",
            "t.yaml",
            None,
            &|_| None,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_scale_is_canonical_and_keeps_rates_above_the_floor() {
        let cfg = config();
        assert_eq!(super::check_scale(0.5000001), Ok(0.5));
        assert!(super::check_scale(1e-320).is_err());
        assert!(super::check_scale(0.0004).is_err());
        assert_eq!(cfg.scaled_hash(0.5), format!("{}-x0.5", cfg.hash));
        // 10/s at 0.001 is 0.01/s: allowed; a plan at 0.5/s would go below 0.001/s.
        assert!(cfg.plans[0].scaled(0.001, &cfg.limits).is_ok());
        let mut slow = (*cfg.plans[0]).clone();
        if let crate::config::LoadShape::Open { phases, .. } = &mut slow.workloads[1].load.shape {
            phases[0].rate = 0.5;
        }
        let why = slow.scaled(0.001, &cfg.limits).unwrap_err();
        assert!(
            why.contains("below the minimum of 0.001 per second"),
            "{why}"
        );
    }

    #[test]
    fn scale_multiplies_every_workload_within_the_limits() {
        let cfg = config();
        let p = cfg.plans[0].scaled(3.0, &cfg.limits).unwrap();
        assert!((crate::config::peak_rate(&p.workloads) - 60.0).abs() < 0.01);
        let closed = &p.workloads[0].load.shape;
        assert_eq!(
            closed,
            &crate::config::LoadShape::Closed {
                stages: vec![crate::config::Stage {
                    duration: std::time::Duration::from_secs(1),
                    target: 15
                }]
            }
        );
        let too_much = cfg.plans[0].scaled(6.0, &cfg.limits).unwrap_err();
        assert!(
            too_much.contains("120.0 req/s at its peak, above limits.max_rps (100)"),
            "{too_much}"
        );
        assert!(cfg.plans[0]
            .scaled(11.0, &cfg.limits)
            .unwrap_err()
            .contains("max_vus"));
        assert!(cfg.plans[0]
            .scaled(0.0, &cfg.limits)
            .unwrap_err()
            .contains("scale 0 must be a number from 0.001"));
    }

    #[test]
    fn a_target_override_moves_every_use_and_is_checked() {
        let cfg = config();
        let moved = cfg
            .with_target_url("other", "http://127.0.0.2:8080")
            .unwrap();
        let w = &moved.plans[0].workloads[0];
        assert_eq!(
            w.target.as_ref().unwrap().base_url.as_str(),
            "http://127.0.0.2:8080/"
        );
        assert_eq!(
            moved.plans[0].target.base_url.as_str(),
            "http://127.0.0.1:9/"
        );
        let unknown = cfg
            .with_target_url("nope", "http://127.0.0.1:1")
            .unwrap_err();
        assert!(unknown.contains("the targets are api, other"), "{unknown}");
        let outside = cfg
            .with_target_url("api", "http://127.0.0.9:8080/")
            .unwrap_err();
        assert!(
            outside.starts_with("--target api=http://127.0.0.9:8080/: ")
                && outside.contains("allow_targets"),
            "{outside}"
        );
    }
}
