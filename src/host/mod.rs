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

/// One reading of the host and the watched processes.
#[derive(Debug, Clone, PartialEq)]
pub struct HostSample {
    /// Busy share of all cores (0..1) since the previous reading.
    pub cpu_ratio: f64,
    /// CPU seconds of all cores since boot, (busy, idle), from `/proc/stat`; `None` where
    /// there is no such file. Counters, so that `rate()` gives the busy cores over any window.
    pub cpu_seconds: Option<(f64, f64)>,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    pub load1: f64,
    pub load5: f64,
    pub load15: f64,
    /// (mount point, used bytes, total bytes) of each disk.
    pub disks: Vec<(String, u64, u64)>,
    /// (interface, bytes received, bytes sent) since boot.
    pub networks: Vec<(String, u64, u64)>,
    /// (name, CPU in cores, RSS, CPU seconds used so far) of each watched process name
    /// (summed over its processes).
    pub processes: Vec<(String, f64, u64, f64)>,
}

/// Samples the host (CPU, memory, load, network) and processes watched by name, such as a
/// database next to the target. CPU figures need two readings, so the first is withheld.
pub struct HostSampler {
    sys: System,
    networks: sysinfo::Networks,
    disks: sysinfo::Disks,
    watched: Vec<String>,
    primed: bool,
}

impl HostSampler {
    /// A sampler watching these process names (exact match, e.g. `postgres`).
    pub fn new(watched: Vec<String>) -> Self {
        Self {
            sys: System::new(),
            networks: sysinfo::Networks::new_with_refreshed_list(),
            disks: sysinfo::Disks::new_with_refreshed_list(),
            watched,
            primed: false,
        }
    }

    /// Takes a reading; `None` on the first call.
    pub fn sample(&mut self) -> Option<HostSample> {
        self.sys.refresh_cpu_usage();
        self.sys.refresh_memory();
        self.networks.refresh(true);
        self.disks.refresh(true);
        if !self.watched.is_empty() {
            self.sys.refresh_processes_specifics(
                ProcessesToUpdate::All,
                true,
                ProcessRefreshKind::nothing().with_cpu().with_memory(),
            );
        }
        let processes = self
            .watched
            .iter()
            .map(|name| {
                let (cpu, rss, secs) = self
                    .sys
                    .processes_by_exact_name(std::ffi::OsStr::new(name))
                    .fold((0.0, 0, 0.0), |(c, r, s), p| {
                        (
                            c + f64::from(p.cpu_usage()) / 100.0,
                            r + p.memory(),
                            s + p.accumulated_cpu_time() as f64 / 1000.0,
                        )
                    });
                (name.clone(), cpu, rss, secs)
            })
            .collect();
        let sample = HostSample {
            cpu_ratio: f64::from(self.sys.global_cpu_usage()) / 100.0,
            cpu_seconds: std::fs::read_to_string("/proc/stat")
                .ok()
                .and_then(|t| cpu_seconds(&t)),
            memory_used_bytes: self.sys.used_memory(),
            memory_total_bytes: self.sys.total_memory(),
            load1: System::load_average().one,
            load5: System::load_average().five,
            load15: System::load_average().fifteen,
            disks: self
                .disks
                .iter()
                .map(|d| {
                    (
                        d.mount_point().display().to_string(),
                        d.total_space().saturating_sub(d.available_space()),
                        d.total_space(),
                    )
                })
                .collect(),
            networks: self
                .networks
                .iter()
                .map(|(n, d)| (n.clone(), d.total_received(), d.total_transmitted()))
                .collect(),
            processes,
        };
        let first = !self.primed;
        self.primed = true;
        (!first).then_some(sample)
    }
}

/// (busy, idle) seconds of all cores from `/proc/stat`'s first line: `cpu user nice system
/// idle iowait irq softirq steal …` in USER_HZ ticks, which the kernel fixes at 100 for this
/// file. Idle is idle + iowait (as node_exporter's busy ratio counts it); guest time is
/// already inside user.
fn cpu_seconds(stat: &str) -> Option<(f64, f64)> {
    const USER_HZ: f64 = 100.0;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .take(8)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let idle = ticks.get(3)? + ticks.get(4)?;
    let busy = ticks.iter().sum::<u64>() - idle;
    Some((busy as f64 / USER_HZ, idle as f64 / USER_HZ))
}

#[cfg(test)]
mod host_tests {
    use super::*;

    #[test]
    fn host_sample_reports_memory_network_and_a_watched_process() {
        let me = std::env::current_exe()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let mut s = HostSampler::new(vec![me.chars().take(15).collect()]);
        assert!(s.sample().is_none(), "the first reading is withheld");
        std::thread::sleep(std::time::Duration::from_millis(250));
        let r = s.sample().unwrap();
        assert!(
            r.memory_total_bytes > r.memory_used_bytes && r.memory_used_bytes > 0,
            "{r:?}"
        );
        assert!((0.0..=1.0).contains(&r.cpu_ratio), "{r:?}");
        assert!(r.networks.iter().any(|(n, _, _)| n == "lo"), "{r:?}");
        assert!(r.processes[0].2 > 0, "this test process is watched: {r:?}");
        let (busy, idle) = r.cpu_seconds.expect("Linux has /proc/stat");
        assert!(busy > 0.0 && idle > 0.0, "{r:?}");
    }

    #[test]
    fn proc_stat_ticks_become_busy_and_idle_seconds() {
        let stat = "cpu  100 20 30 400 50 6 4 10 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
        assert_eq!(cpu_seconds(stat), Some((1.7, 4.5)));
        assert_eq!(cpu_seconds("intr 1 2 3"), None);
        assert_eq!(cpu_seconds("cpu  a b c"), None);
    }
}
