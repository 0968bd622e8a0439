//! `load:`: open-model phases, closed-model VU stages and presets, all normalised into one
//! load shape, and the global rate cap across plans.

use super::error::Collector;
use super::limits::{Limits, DEFAULT_MAX_IN_FLIGHT};
use super::raw::{RawLoad, RawPhase, RawStage, S};
use super::rules::{duration, positive, rate};
use std::time::Duration;

/// A named load shape, expanded when the file is loaded: a rate shape (`preset:`, into
/// open-model phases) or a user-count shape (`users:`, into closed-model VU stages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    Smoke,
    Load,
    Stress,
    Spike,
    Soak,
    Breakpoint,
    /// `users: light`: 10 → 20 virtual users.
    Light,
    /// `users: medium`: 50 → 100 virtual users.
    Medium,
    /// `users: heavy`: 100 → 200 virtual users.
    Heavy,
    /// `users: stress`: 200 → 1,000 virtual users (capped at `limits.max_vus`), ramping until
    /// the end: an `abort_on_fail` threshold stops it where the service breaks.
    UsersStress,
}

impl Preset {
    /// Every preset, in the order the docs list them.
    pub const ALL: [Preset; 6] = [
        Preset::Smoke,
        Preset::Load,
        Preset::Stress,
        Preset::Spike,
        Preset::Soak,
        Preset::Breakpoint,
    ];

    /// The name written in a plan (and in the summary).
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Smoke => "smoke",
            Preset::Load => "load",
            Preset::Stress => "stress",
            Preset::Spike => "spike",
            Preset::Soak => "soak",
            Preset::Breakpoint => "breakpoint",
            Preset::Light => "light",
            Preset::Medium => "medium",
            Preset::Heavy => "heavy",
            Preset::UsersStress => "users_stress",
        }
    }

    /// The user-count presets, as written under `users:`.
    pub const USERS: [(&'static str, Preset); 4] = [
        ("light", Preset::Light),
        ("medium", Preset::Medium),
        ("heavy", Preset::Heavy),
        ("stress", Preset::UsersStress),
    ];

    /// A user-count preset's virtual users (start of the climb, its top) and default length.
    fn users(self) -> Option<(u64, u64, Duration)> {
        let min = |m: u64| Duration::from_secs(m * 60);
        match self {
            Preset::Light => Some((10, 20, min(5))),
            Preset::Medium => Some((50, 100, min(10))),
            Preset::Heavy => Some((100, 200, min(10))),
            Preset::UsersStress => Some((200, 1000, min(15))),
            _ => None,
        }
    }
}

/// One open-model phase: arrivals per second, ramping linearly from `rate` to `ramp_to`.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    pub name: String,
    pub duration: Duration,
    pub rate: f64,
    pub ramp_to: f64,
}

/// One closed-model stage: VUs ramp linearly to `target` over `duration`.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub duration: Duration,
    pub target: u64,
}

/// The load shape, after presets were expanded.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadShape {
    /// Arrivals at a scheduled rate, independent of response times.
    Open {
        phases: Vec<Phase>,
        max_in_flight: u64,
    },
    /// A number of VUs, each looping its scenario.
    Closed { stages: Vec<Stage> },
}

/// The load: a shape plus stop conditions.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadSpec {
    pub shape: LoadShape,
    /// Stop after this many iterations in total.
    pub iterations: Option<u64>,
    /// How long in-flight iterations may finish after the schedule ends or a stop.
    pub graceful_stop: Duration,
    /// The preset the shape came from, if any.
    pub preset: Option<Preset>,
    /// How open-model arrivals wake their worker.
    pub dispatch: Dispatch,
}

/// How a load is driven: arrivals per second (`open`), concurrent VUs (`closed`), or both
/// across workloads (`mixed`, in a summary only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadModel {
    Open,
    Closed,
    Mixed,
}

impl LoadModel {
    pub fn as_str(self) -> &'static str {
        match self {
            LoadModel::Open => "open",
            LoadModel::Closed => "closed",
            LoadModel::Mixed => "mixed",
        }
    }
}

impl std::fmt::Display for LoadModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// How a worker wakes for open-model arrivals (`load.dispatch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dispatch {
    /// Exact at or below [`Dispatch::AUTO_EXACT_MAX`] arrivals per second per worker, tick
    /// above.
    #[default]
    Auto,
    /// At each arrival's time: the truest latency, a wake-up per arrival.
    Exact,
    /// On the runtime's 1-ms timer: arrivals due in the same millisecond go together.
    Tick,
}

impl std::fmt::Display for Dispatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl Dispatch {
    /// Per-worker arrival rate up to which `auto` wakes exactly. Measured: a wake-up per
    /// arrival cost 1.5-2x the CPU per request of 1-ms ticks; at this rate that is a few
    /// percent of a core, and beyond it the saving matters more than the sub-ms lag.
    pub const AUTO_EXACT_MAX: f64 = 2_500.0;

    /// Its name in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Dispatch::Auto => "auto",
            Dispatch::Exact => "exact",
            Dispatch::Tick => "tick",
        }
    }

    /// Whether a worker whose arrivals come at `rate` per second wakes exactly.
    pub fn exact_at(self, rate: f64) -> bool {
        match self {
            Dispatch::Auto => rate <= Self::AUTO_EXACT_MAX,
            Dispatch::Exact => true,
            Dispatch::Tick => false,
        }
    }
}

impl LoadSpec {
    /// Scheduled length of the run.
    pub fn duration(&self) -> Duration {
        match &self.shape {
            LoadShape::Open { phases, .. } => phases.iter().map(|p| p.duration).sum(),
            LoadShape::Closed { stages } => stages.iter().map(|s| s.duration).sum(),
        }
    }
}

pub(super) fn load(
    c: &mut Collector,
    limits: &Limits,
    l: &RawLoad,
    path: &str,
) -> Option<LoadSpec> {
    // `target` with `duration` and nothing else: a fixed number of VUs (closed model).
    let fixed = l.target.is_some()
        && l.phases.is_none()
        && l.vus.is_none()
        && l.preset.is_none()
        && l.users.is_none();
    let kinds = [
        l.phases.is_some(),
        l.vus.is_some(),
        l.preset.is_some(),
        l.users.is_some(),
        fixed,
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        c.nowhere(
            path,
            "set exactly one of `phases` (open model), `vus` (closed model), `preset` (a rate shape), `users` (a user-count shape) or `target` with `duration` (that many VUs throughout)",
        );
        return None;
    }
    let max_in_flight = max_in_flight(c, limits, l, path);
    let shape = if let Some(phases) = &l.phases {
        LoadShape::Open {
            phases: open_phases(c, limits, phases, path),
            max_in_flight: max_in_flight?,
        }
    } else if let Some(stages) = &l.vus {
        LoadShape::Closed {
            stages: vu_stages(c, limits, stages, path),
        }
    } else if let Some(u) = &l.users {
        users(c, limits, u, l.duration.as_ref(), path)?
    } else if let (true, Some(target)) = (fixed, &l.target) {
        fixed_vus(c, limits, target, l.duration.as_ref(), path)?
    } else {
        preset(c, limits, l, path, max_in_flight?)?
    };
    let iterations = l
        .iterations
        .as_ref()
        .and_then(|n| positive(c, n, &format!("{path}.iterations")));
    let graceful_stop = graceful_stop(c, l, path);
    let dispatch = dispatch(c, l, path);
    if let (Some(_), false) = (&l.preset, matches!(shape, LoadShape::Open { .. })) {
        return None;
    }
    Some(LoadSpec {
        shape,
        iterations,
        graceful_stop,
        dispatch,
        preset: l
            .preset
            .as_ref()
            .and_then(|p| Preset::ALL.into_iter().find(|k| k.as_str() == p.value))
            .or_else(|| {
                let u = l.users.as_ref()?;
                Preset::USERS
                    .into_iter()
                    .find(|(n, _)| *n == u.value)
                    .map(|(_, p)| p)
            }),
    })
}

/// `max_in_flight`, within the limits (the default when not given); `None` when wrong.
fn max_in_flight(c: &mut Collector, limits: &Limits, l: &RawLoad, path: &str) -> Option<u64> {
    match &l.max_in_flight {
        Some(m) if m.value > limits.max_in_flight => {
            c.at(
                &m.referenced,
                &format!("{path}.max_in_flight"),
                format!(
                    "{} exceeds limits.max_in_flight ({})",
                    m.value, limits.max_in_flight
                ),
            );
            None
        }
        Some(m) => positive(c, m, &format!("{path}.max_in_flight")),
        None => Some(DEFAULT_MAX_IN_FLIGHT.min(limits.max_in_flight)),
    }
}

/// How long a stopping load waits for iterations in flight (10 s when not given).
fn graceful_stop(c: &mut Collector, l: &RawLoad, path: &str) -> Duration {
    l.graceful_stop
        .as_ref()
        .and_then(|g| {
            duration(
                c,
                g,
                &format!("{path}.graceful_stop"),
                Duration::from_millis(1),
            )
        })
        .unwrap_or(Duration::from_secs(10))
}

fn dispatch(c: &mut Collector, l: &RawLoad, path: &str) -> Dispatch {
    super::rules::keyword(
        c,
        l.dispatch.as_ref(),
        &format!("{path}.dispatch"),
        &[
            ("auto", Dispatch::Auto),
            ("exact", Dispatch::Exact),
            ("tick", Dispatch::Tick),
        ],
        Dispatch::Auto,
    )
    .unwrap_or_default()
}

/// Open-model phases, each with its duration and start and end rates.
fn open_phases(c: &mut Collector, limits: &Limits, phases: &[RawPhase], path: &str) -> Vec<Phase> {
    let one_sec = Duration::from_secs(1);
    if phases.is_empty() {
        c.nowhere(&format!("{path}.phases"), "must contain at least one phase");
    }
    let mut out = Vec::new();
    for (i, ph) in phases.iter().enumerate() {
        let pp = format!("{path}.phases[{i}]");
        let d = duration(c, &ph.duration, &format!("{pp}.duration"), one_sec);
        let r = rate(
            c,
            limits.max_rps,
            &ph.rate,
            &format!("{pp}.rate"),
            ph.ramp_to.is_some(),
        );
        let to = match &ph.ramp_to {
            Some(t) => rate(c, limits.max_rps, t, &format!("{pp}.ramp_to"), true),
            None => r,
        };
        if let (Some(duration), Some(rate), Some(ramp_to)) = (d, r, to) {
            out.push(Phase {
                name: ph
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("phase-{}", i + 1)),
                duration,
                rate,
                ramp_to,
            });
        }
    }
    out
}

/// Closed-model stages; `0s` jumps to the stage's VU count at once.
/// `{ target: N, duration: D }`: N VUs from the start to the end, as the stages
/// `[{ 0s, N }, { D, N }]` are.
fn fixed_vus(
    c: &mut Collector,
    limits: &Limits,
    target: &S<u64>,
    duration: Option<&S<String>>,
    path: &str,
) -> Option<LoadShape> {
    let Some(d) = duration else {
        c.at(
            &target.referenced,
            &format!("{path}.duration"),
            "a fixed number of VUs (`target`) needs `duration`, e.g. { target: 10, duration: 5m }",
        );
        return None;
    };
    let stage = |duration: &S<String>| RawStage {
        duration: duration.clone(),
        target: target.clone(),
    };
    let jump = S {
        value: "0s".to_string(),
        referenced: target.referenced,
        defined: target.defined,
    };
    Some(LoadShape::Closed {
        stages: vu_stages(c, limits, &[stage(&jump), stage(d)], path),
    })
}

fn vu_stages(c: &mut Collector, limits: &Limits, stages: &[RawStage], path: &str) -> Vec<Stage> {
    let one_sec = Duration::from_secs(1);
    if stages.is_empty() {
        c.nowhere(&format!("{path}.vus"), "must contain at least one stage");
    }
    let mut out = Vec::new();
    for (i, st) in stages.iter().enumerate() {
        let sp = format!("{path}.vus[{i}]");
        // `0s` jumps to the stage's VU count at once (as in k6); any other stage ramps.
        let jump = humantime::parse_duration(st.duration.value.trim()).is_ok_and(|d| d.is_zero());
        let d = if jump {
            Some(Duration::ZERO)
        } else {
            duration(c, &st.duration, &format!("{sp}.duration"), one_sec)
        };
        if st.target.value > limits.max_vus {
            c.at(
                &st.target.referenced,
                &format!("{sp}.target"),
                format!(
                    "{} VUs exceed limits.max_vus ({})",
                    st.target.value, limits.max_vus
                ),
            );
        }
        if let Some(duration) = d {
            out.push(Stage {
                duration,
                target: st.target.value.min(limits.max_vus),
            });
        }
    }
    if !out.is_empty() && out.iter().all(|s| s.target == 0) {
        c.nowhere(
            &format!("{path}.vus"),
            "every stage targets 0 VUs; nothing would run",
        );
    }
    out
}

/// Expands a preset into open-model phases from `rate` and `duration`.
/// A user-count shape as VU stages over `duration` (or the preset's own length): up to
/// the first count in 10 %, climbing to the top in 60 %, held 20 %, down in 10 %; `stress`
/// climbs for 80 % and has no plateau.
fn users(
    c: &mut Collector,
    limits: &Limits,
    u: &S<String>,
    dur: Option<&S<String>>,
    path: &str,
) -> Option<LoadShape> {
    let Some((_, kind)) = Preset::USERS.into_iter().find(|(n, _)| *n == u.value) else {
        c.at(
            &u.referenced,
            &format!("{path}.users"),
            format!(
                "{:?} is not a user-count preset; use light, medium, heavy or stress",
                u.value
            ),
        );
        return None;
    };
    let (low, high, default_len) = kind.users()?;
    let d = match dur {
        Some(d) => duration(c, d, &format!("{path}.duration"), Duration::from_secs(10))?,
        None => default_len,
    };
    let high = if high > limits.max_vus {
        if kind != Preset::UsersStress {
            c.at(
                &u.referenced,
                &format!("{path}.users"),
                format!(
                    "{:?} climbs to {high} VUs, over limits.max_vus ({})",
                    u.value, limits.max_vus
                ),
            );
            return None;
        }
        limits.max_vus
    } else {
        high
    };
    let part = |f: f64| Duration::from_secs_f64((d.as_secs_f64() * f).max(1.0));
    let st = |f: f64, target: u64| Stage {
        duration: part(f),
        target,
    };
    let stages = if kind == Preset::UsersStress {
        vec![st(0.1, low), st(0.8, high), st(0.1, 0)]
    } else {
        vec![st(0.1, low), st(0.6, high), st(0.2, high), st(0.1, 0)]
    };
    Some(LoadShape::Closed { stages })
}

fn preset(
    c: &mut Collector,
    limits: &Limits,
    l: &RawLoad,
    path: &str,
    max_in_flight: u64,
) -> Option<LoadShape> {
    let p = l.preset.as_ref()?;
    let (Some(rate), Some(dur)) = (&l.rate, &l.duration) else {
        c.at(
            &p.referenced,
            path,
            format!(
                "preset {:?} needs `rate` (arrivals per second) and `duration`",
                p.value
            ),
        );
        return None;
    };
    let r = super::rules::rate(c, limits.max_rps, rate, &format!("{path}.rate"), false)?;
    let d = duration(c, dur, &format!("{path}.duration"), Duration::from_secs(10))?;
    let Some(kind) = Preset::ALL.into_iter().find(|k| k.as_str() == p.value) else {
        c.at(
            &p.referenced,
            &format!("{path}.preset"),
            format!(
                "{:?} is not a preset; use smoke, load, stress, spike, soak or breakpoint",
                p.value
            ),
        );
        return None;
    };
    let phases = preset_phases(kind, r, d)?;
    Some(LoadShape::Open {
        phases,
        max_in_flight,
    })
}

/// A preset's phases for the peak rate `r` over the duration `d`.
fn preset_phases(kind: Preset, r: f64, d: Duration) -> Option<Vec<Phase>> {
    let part = |f: f64| Duration::from_secs_f64((d.as_secs_f64() * f).max(1.0));
    let ph = |name: &str, f: f64, from: f64, to: f64| Phase {
        name: name.into(),
        duration: part(f),
        rate: from,
        ramp_to: to,
    };
    let phases = match kind {
        Preset::Smoke => vec![ph("smoke", 1.0, r, r)],
        Preset::Load => vec![
            ph("ramp-up", 0.1, 0.0, r),
            ph("steady", 0.8, r, r),
            ph("ramp-down", 0.1, r, 0.0),
        ],
        Preset::Stress => vec![
            ph("ramp-up", 0.1, 0.0, r),
            ph("steady", 0.3, r, r),
            ph("ramp-over", 0.2, r, 2.0 * r),
            ph("overload", 0.3, 2.0 * r, 2.0 * r),
            ph("ramp-down", 0.1, 2.0 * r, 0.0),
        ],
        Preset::Spike => vec![
            ph("base", 0.4, r / 10.0, r / 10.0),
            ph("spike-up", 0.05, r / 10.0, r),
            ph("spike", 0.1, r, r),
            ph("spike-down", 0.05, r, r / 10.0),
            ph("recovery", 0.4, r / 10.0, r / 10.0),
        ],
        Preset::Soak => {
            let ramp = Duration::from_secs_f64((d.as_secs_f64() * 0.05).clamp(1.0, 300.0));
            vec![
                Phase {
                    name: "ramp-up".into(),
                    duration: ramp,
                    rate: 0.0,
                    ramp_to: r,
                },
                Phase {
                    name: "soak".into(),
                    duration: d.saturating_sub(ramp).max(Duration::from_secs(1)),
                    rate: r,
                    ramp_to: r,
                },
            ]
        }
        Preset::Breakpoint => vec![ph("breakpoint-ramp", 1.0, (r / 100.0).max(0.1), r)],
        // User-count shapes come from `users:` (see `users`); ALL holds none of them.
        Preset::Light | Preset::Medium | Preset::Heavy | Preset::UsersStress => return None,
    };
    Some(phases)
}
