//! What sampling costs: CPU time per reading of the host sampler (host CPU, memory, load,
//! network, one watched process) and of the self sampler. `cargo bench --bench sampler`.

use loadpacer::host::{HostSampler, ProcessSampler};
use std::time::Instant;

fn cpu_seconds() -> f64 {
    // utime + stime of this process from /proc/self/stat (fields 14 and 15, in clock ticks).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, s)| s).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    const N: u32 = 500;
    let me = std::env::current_exe()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .chars()
        .take(15)
        .collect::<String>();
    let mut host = HostSampler::new(vec![me]);
    let mut own = ProcessSampler::this_process();
    let (c0, t0) = (cpu_seconds(), Instant::now());
    for _ in 0..N {
        std::hint::black_box(host.sample());
    }
    let (c1, t1) = (cpu_seconds(), Instant::now());
    for _ in 0..N {
        std::hint::black_box(own.sample());
    }
    let (c2, t2) = (cpu_seconds(), Instant::now());
    println!(
        "{:<34} {:>12} {:>12}",
        "sampler", "CPU µs/read", "wall µs/read"
    );
    println!(
        "{:<34} {:>12.0} {:>12.0}",
        "host + 1 watched process",
        (c1 - c0) * 1e6 / f64::from(N),
        (t1 - t0).as_secs_f64() * 1e6 / f64::from(N)
    );
    println!(
        "{:<34} {:>12.0} {:>12.0}",
        "loadpacer itself",
        (c2 - c1) * 1e6 / f64::from(N),
        (t2 - t1).as_secs_f64() * 1e6 / f64::from(N)
    );
    println!(
        "at one reading a second the host sampler costs {:.3}% of one core",
        (c1 - c0) / f64::from(N) * 100.0
    );
}
