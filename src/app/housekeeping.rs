//! The daemon's background chores: every `host.interval` sample the host and the watched
//! processes into `/metrics` (loadpacer's own process is read at each scrape, by the
//! standard process collector), and store the distributed runs whose segments
//! are overdue; every 10 s retry the store writes that failed.
//! (A reload's new `host` block applies at the next start.)

use super::App;
use crate::host::HostSampler;
use std::time::Duration;

const RETRY_WRITES_EVERY: Duration = Duration::from_secs(10);

impl App {
    pub(super) async fn housekeeping(&self) {
        let host = self.config().host.clone();
        let mut host_sampler = HostSampler::new(host.processes.clone());
        let mut every = tokio::time::interval(host.interval);
        let mut last_retry = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = self.root.cancelled() => break,
                _ = every.tick() => {}
            }
            if let Some(sample) = host_sampler.sample() {
                self.metrics.set_host(sample);
            }
            self.expire_segments();
            if last_retry.elapsed() >= RETRY_WRITES_EVERY {
                self.retry_pending();
                last_retry = tokio::time::Instant::now();
            }
        }
    }
}
