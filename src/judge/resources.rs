//! Host and process figures over a run: loadpacer itself, the host, and the processes
//! watched by name (`host.processes`), sampled once a second and summarised as avg/max.

use crate::host::{HostSampler, ProcessSampler};
use crate::run::{Control, Observer, WindowView};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// Average and maximum of a sampled figure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    pub avg: f64,
    pub max: f64,
    pub samples: u64,
}

impl Stat {
    fn add(&mut self, v: f64) {
        self.samples += 1;
        self.avg += (v - self.avg) / self.samples as f64;
        self.max = if self.samples == 1 {
            v
        } else {
            self.max.max(v)
        };
    }
}

/// One watched process over the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessFigures {
    pub name: String,
    pub cpu_cores: Stat,
    pub rss_bytes: Stat,
}

/// Everything sampled during a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    pub host_cpu_ratio: Stat,
    pub host_memory_used_bytes: Stat,
    pub loadpacer_cpu_cores: Stat,
    pub loadpacer_rss_bytes: Stat,
    pub processes: Vec<ProcessFigures>,
}

impl Resources {
    /// The figures of a watched process.
    pub fn process(&self, name: &str) -> Option<&ProcessFigures> {
        self.processes.iter().find(|p| p.name == name)
    }
}

/// Samples once a second during a run; read the result after it with [`ResourceWatch::result`].
pub struct ResourceWatch {
    host: HostSampler,
    me: ProcessSampler,
    result: Arc<Mutex<Resources>>,
}

impl ResourceWatch {
    /// Watches the host, loadpacer, and these process names.
    pub fn new(processes: &[String]) -> Self {
        let mut host = HostSampler::new(processes.to_vec());
        let mut me = ProcessSampler::this_process();
        let _ = (host.sample(), me.sample()); // prime: first CPU readings are always 0
        let result = Resources {
            processes: processes
                .iter()
                .map(|n| ProcessFigures {
                    name: n.clone(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        Self {
            host,
            me,
            result: Arc::new(Mutex::new(result)),
        }
    }

    /// A handle to the figures, complete once the run has ended.
    pub fn result(&self) -> Arc<Mutex<Resources>> {
        self.result.clone()
    }
}

impl Observer for ResourceWatch {
    fn on_window(&mut self, _v: &WindowView<'_>) -> Control {
        let mut r = self.result.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = self.host.sample() {
            r.host_cpu_ratio.add(h.cpu_ratio);
            r.host_memory_used_bytes.add(h.memory_used_bytes as f64);
            for (name, cpu, rss) in h.processes {
                if let Some(p) = r.processes.iter_mut().find(|p| p.name == name) {
                    p.cpu_cores.add(cpu);
                    p.rss_bytes.add(rss as f64);
                }
            }
        }
        if let Some(s) = self.me.sample() {
            r.loadpacer_cpu_cores.add(s.cpu_cores);
            r.loadpacer_rss_bytes.add(s.rss_bytes as f64);
        }
        Control::Continue
    }
}
