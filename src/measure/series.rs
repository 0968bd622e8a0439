use serde::{Deserialize, Serialize};

/// One point of a run's time series: what happened in one window.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct WindowPoint {
    /// Seconds since the run started, at the end of the window.
    pub t_s: f64,
    /// Window length in seconds (grows when old points are merged).
    pub width_s: f64,
    /// Requests completed in the window.
    pub requests: u64,
    /// Failed requests in the window.
    pub errors: u64,
    /// Latency percentiles of the window, in milliseconds.
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// Intended arrival rate at the end of the window (open model), or VUs (closed model).
    /// With several workloads: the open-model workloads' rates (VUs when all are closed);
    /// each workload's own target is in `workloads`.
    pub target: f64,
    /// Stream messages and events received in the window (all ws and sse steps).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub stream_messages: u64,
    /// Stream sessions opened in the window.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub stream_sessions: u64,
    /// Per workload, in the plan's order, when the plan has more than one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workloads: Vec<WorkloadPoint>,
}

/// The windows that cover their whole width of load: all but a last window the run's end cut
/// short (less than 90 % of the one before). A rate over a short window is requests that
/// bunched at the end over a fraction of a second, not a rate the target sustained (it drew
/// a spike at the end of every throughput chart and inflated capacity bounds).
pub fn full_windows(points: &[WindowPoint]) -> &[WindowPoint] {
    match points {
        [.., before, last] if last.width_s < 0.9 * before.width_s => &points[..points.len() - 1],
        _ => points,
    }
}

/// One workload's share of a window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkloadPoint {
    /// Requests of its scenarios completed in the window.
    pub requests: u64,
    pub errors: u64,
    /// Its intended arrival rate (open model) or VUs (closed model) at the end of the window.
    pub target: f64,
    /// Its iterations in flight at the end of the window (the active VUs, closed model).
    pub in_flight: u64,
}

/// For `skip_serializing_if`: a count that is zero is left out.
pub fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A time series whose memory does not grow with the run: when it reaches its capacity,
/// neighbouring points are merged pairwise, halving its resolution.
#[derive(Clone, Debug)]
pub struct WindowSeries {
    points: Vec<WindowPoint>,
    capacity: usize,
}

impl WindowSeries {
    /// A series that holds at most `capacity` points (at least 2).
    pub fn new(capacity: usize) -> Self {
        Self {
            points: Vec::new(),
            capacity: capacity.max(2),
        }
    }

    /// Appends a window, downsampling first if the series is full.
    pub fn push(&mut self, point: WindowPoint) {
        if self.points.len() >= self.capacity {
            self.halve();
        }
        self.points.push(point);
    }

    /// The points, oldest first.
    pub fn points(&self) -> &[WindowPoint] {
        &self.points
    }

    fn halve(&mut self) {
        let merged = self
            .points
            .chunks(2)
            .map(|pair| match pair {
                [a, b] => merge(a, b),
                [a] => a.clone(),
                _ => unreachable!("chunks(2) yields one or two points"),
            })
            .collect();
        self.points = merged;
    }
}

/// Merges two neighbouring windows. Percentiles of the merged window take the worse of the
/// two: exact merging would need the histograms, and a dashboard must not hide a spike.
fn merge(a: &WindowPoint, b: &WindowPoint) -> WindowPoint {
    WindowPoint {
        t_s: b.t_s,
        width_s: a.width_s + b.width_s,
        requests: a.requests + b.requests,
        errors: a.errors + b.errors,
        p50_ms: a.p50_ms.max(b.p50_ms),
        p95_ms: a.p95_ms.max(b.p95_ms),
        p99_ms: a.p99_ms.max(b.p99_ms),
        target: b.target,
        stream_messages: a.stream_messages + b.stream_messages,
        stream_sessions: a.stream_sessions + b.stream_sessions,
        workloads: a
            .workloads
            .iter()
            .zip(&b.workloads)
            .map(|(x, y)| WorkloadPoint {
                requests: x.requests + y.requests,
                errors: x.errors + y.errors,
                target: y.target,
                in_flight: y.in_flight,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_stays_bounded_and_keeps_totals() {
        let mut s = WindowSeries::new(100);
        for i in 0..10_000u64 {
            s.push(WindowPoint {
                t_s: i as f64 + 1.0,
                width_s: 1.0,
                requests: 10,
                errors: 1,
                p50_ms: 1.0,
                p95_ms: if i == 5000 { 900.0 } else { 2.0 },
                p99_ms: 3.0,
                target: 10.0,
                ..Default::default()
            });
        }
        assert!(s.points().len() <= 100);
        let total: u64 = s.points().iter().map(|p| p.requests).sum();
        assert_eq!(total, 100_000);
        assert!(
            s.points().iter().any(|p| p.p95_ms == 900.0),
            "a spike survives downsampling"
        );
        assert_eq!(s.points().last().unwrap().t_s, 10_000.0);
    }
}
