//! Samples loadpacer's own process with sysinfo. The first CPU reading of a process is
//! always 0 (it needs two samples), so nothing is reported until the second sample (D6).

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessSample {
    /// CPU used, in cores (1.0 = one core busy).
    pub cpu_cores: f64,
    /// CPU used as a ratio of the cores this process may use.
    pub cpu_ratio: f64,
    pub rss_bytes: u64,
}

/// Samples one process.
pub struct ProcessSampler {
    sys: System,
    pid: Pid,
    cores: f64,
    primed: bool,
}

impl ProcessSampler {
    /// A sampler for this process.
    pub fn this_process() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1) as f64;
        Self {
            sys: System::new(),
            pid: Pid::from_u32(std::process::id()),
            cores,
            primed: false,
        }
    }

    /// Takes a reading; `None` on the first call and when the process is gone.
    pub fn sample(&mut self) -> Option<ProcessSample> {
        // Process CPU is computed against the elapsed CPU time of the whole system.
        self.sys.refresh_cpu_usage();
        self.sys.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[self.pid]),
            true,
            ProcessRefreshKind::nothing().with_cpu().with_memory(),
        );
        let p = self.sys.process(self.pid)?;
        let cpu_cores = f64::from(p.cpu_usage()) / 100.0;
        let sample = ProcessSample {
            cpu_cores,
            cpu_ratio: cpu_cores / self.cores,
            rss_bytes: p.memory(),
        };
        let first = !self.primed;
        self.primed = true;
        (!first).then_some(sample)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn d6_first_sample_is_withheld_and_the_second_sees_real_work() {
        let burn = |ms| {
            let start = std::time::Instant::now();
            let mut x = 0u64;
            while start.elapsed() < std::time::Duration::from_millis(ms) {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
            std::hint::black_box(x);
        };
        burn(50);
        let mut s = ProcessSampler::this_process();
        assert_eq!(s.sample(), None);
        burn(300);
        let r = s.sample().expect("second sample");
        assert!(r.cpu_cores > 0.2, "{r:?}");
        assert!(r.rss_bytes > 1 << 20, "{r:?}");
    }
}
