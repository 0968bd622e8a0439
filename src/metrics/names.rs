//! Every exported metric name, its help text and type, in one place. Names follow
//! ARCHITECTURE.md; labels come from config names, never from URLs.

/// Prefix of every family.
pub const PREFIX: &str = "loadpacer_";

/// Latency buckets in seconds (1 ms – 60 s).
pub const LATENCY_BUCKETS: [f64; 15] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Quantiles exported from the exact HDR histogram of the last run.
pub const LAST_RUN_QUANTILES: [f64; 5] = [0.5, 0.9, 0.95, 0.99, 0.999];

/// (name without prefix, help) of every family, so tests can check both directions.
pub const FAMILIES: &[(&str, &str)] = &[
    (
        "http_request_duration_seconds",
        "Request latency from the intended send time (coordinated-omission corrected).",
    ),
    (
        "http_requests_total",
        "Completed requests by response status (\"none\" when no response arrived).",
    ),
    ("http_errors_total", "Failed requests by error kind."),
    ("checks_total", "Check outcomes."),
    (
        "stream_connect_duration_seconds",
        "Time to open a WebSocket or event-stream session (from the intended start when it is an iteration's first step).",
    ),
    (
        "stream_round_trip_seconds",
        "Stream round trips by kind: reply (a sent message to its matching reply) and ping (a ping to its pong).",
    ),
    (
        "stream_first_message_seconds",
        "Time from an open stream to its first message or event.",
    ),
    (
        "stream_message_gap_seconds",
        "Time between consecutive messages or events of a session.",
    ),
    ("stream_sessions_total", "Stream sessions that opened."),
    ("stream_sessions_open", "Stream sessions open right now."),
    ("stream_messages_total", "Stream messages by direction (sent, received)."),
    ("stream_bytes_total", "Stream payload bytes by direction (sent, received)."),
    (
        "stream_session_ends_total",
        "How stream sessions ended (normal, closed_by_server, protocol, timeout, reset, too_large, refused, connect, tls, blocked); failed opens included.",
    ),
    ("iterations_total", "Completed scenario iterations."),
    (
        "iterations_dropped_total",
        "Arrivals that never started because the backlog was full or the run ended.",
    ),
    (
        "http_stale_connection_retries_total",
        "Requests re-sent once on a fresh connection because the target had closed the kept-alive one at reuse (not counted as errors).",
    ),
    (
        "dispatch_lag_seconds",
        "How late the generator started iterations compared with the schedule.",
    ),
    (
        "target_rate",
        "Intended arrivals per second right now (open model).",
    ),
    ("vus", "Target virtual users right now (closed model)."),
    ("in_flight_requests", "Iterations in flight right now."),
    (
        "monitor_value",
        "A monitor's last polled value (absent while its last poll failed).",
    ),
    (
        "monitor_errors_total",
        "Monitor polls that failed (unreachable, not JSON, no number, empty query result).",
    ),
    (
        "workload_target_rate",
        "Intended arrivals per second of a workload right now (open model; plans with several workloads).",
    ),
    (
        "workload_vus",
        "Target virtual users of a workload right now (closed model; plans with several workloads).",
    ),
    (
        "workload_in_flight_requests",
        "Iterations of a workload in flight right now (plans with several workloads).",
    ),
    (
        "workload_requests_total",
        "Completed requests of a workload's scenarios (plans with several workloads).",
    ),
    (
        "workload_errors_total",
        "Failed requests of a workload's scenarios (plans with several workloads).",
    ),
    ("run_active", "1 while a run of the plan is going on."),
    (
        "last_run_timestamp_seconds",
        "End time of the plan's last finished run (Unix seconds).",
    ),
    (
        "last_run_duration_seconds",
        "Length of the plan's last finished run.",
    ),
    (
        "last_run_success",
        "1 when the plan's last finished run passed, else 0.",
    ),
    ("runs_total", "Finished runs by result."),
    (
        "last_run_latency_seconds",
        "Exact latency quantiles of the last finished run (HDR histogram).",
    ),
    (
        "threshold_passed",
        "1 when the threshold passed in the last finished run, 0 when it failed or had no data.",
    ),
    (
        "capacity_max_rps",
        "Highest req/s of the last run that met the plan's capacity SLO before it broke (only when the run found the limit).",
    ),
    (
        "capacity_lower_bound_rps",
        "When the last run found no limit: the highest req/s at which it met the capacity SLO; the capacity is at least this.",
    ),
    (
        "capacity_headroom_ratio",
        "1 - expected peak / capacity: the share of capacity left at the expected peak.",
    ),
    (
        "capacity_required_instances",
        "Instances needed for the expected peak with 20% margin: ceil(peak * 1.2 / capacity).",
    ),
    (
        "soak_latency_drift_ratio",
        "p95 latency growth per hour of the last run (runs of 10 min or more, or soak plans), as a ratio of its median p95 (robust slope); 0 when the slope cannot be told from noise.",
    ),
    (
        "regression_detected",
        "1 when the figure of the last run regressed against the plan's baseline runs.",
    ),
    (
        "regression_delta_ratio",
        "Change of the figure against the baseline median: (current - baseline) / baseline.",
    ),
    (
        "generator_saturated",
        "1 when the last run was invalid because the generator could not keep its schedule.",
    ),
    (
        "schedule_next_run_timestamp_seconds",
        "When the plan is due next (Unix seconds).",
    ),
    (
        "schedule_lateness_seconds",
        "How late the scheduler woke for a fire time (jitter excluded).",
    ),
    (
        "schedule_runs_skipped_total",
        "Due runs not started, by reason (overlap, concurrency).",
    ),
    (
        "schedule_runs_missed_total",
        "Due runs missed by more than starting_deadline (suspend, downtime, clock jump).",
    ),
    (
        "config_last_reload_successful",
        "1 when the last configuration (re)load succeeded.",
    ),
    (
        "config_last_reload_success_timestamp_seconds",
        "When the configuration was last loaded successfully (Unix seconds).",
    ),
    (
        "process_cpu_seconds_total",
        "CPU seconds used by a watched process (host.processes; rate() gives cores). loadpacer's own are process_cpu_seconds_total and the other standard process_* families.",
    ),
    (
        "process_resident_memory_bytes",
        "Resident memory of a watched process (host.processes).",
    ),
    (
        "runtime_alive_tasks",
        "Tasks alive in loadpacer's async runtime (a run's workers and connections, the daemon's scheduler, servers and streams); flat over a soak when nothing leaks.",
    ),
    (
        "host_cpu_seconds_total",
        "CPU seconds of all cores of the host loadpacer runs on, by mode (busy, idle); rate(busy) is the busy cores, rate(busy) / rate(all) the busy share.",
    ),
    ("host_memory_used_bytes", "Memory in use on the host."),
    ("host_memory_total_bytes", "Memory of the host."),
    ("host_load1", "One-minute load average of the host."),
    ("host_load5", "Five-minute load average of the host."),
    ("host_load15", "Fifteen-minute load average of the host."),
    ("host_disk_used_bytes", "Used space per mounted disk of the host."),
    ("host_disk_total_bytes", "Size of each mounted disk of the host."),
    (
        "host_network_receive_bytes_total",
        "Bytes received by the host, per interface.",
    ),
    (
        "host_network_transmit_bytes_total",
        "Bytes sent by the host, per interface.",
    ),
    (
        "store_write_errors_total",
        "Failed writes to the run store (the run is kept in memory and retried).",
    ),
    (
        "store_unreadable_rows_total",
        "Run store rows skipped because they could not be read (each is logged with its run id).",
    ),
    (
        "segments_refused_total",
        "Segment summaries refused by the daemon, by reason (too_large: a histogram or the summary over its bound; invalid; duplicate: a segment or a merged run posted again).",
    ),
    (
        "api_unauthorized_requests_total",
        "API requests refused for a missing or wrong bearer token.",
    ),
    (
        "build_info",
        "Always 1; the version label says which build runs.",
    ),
];

/// Help text of a family.
pub fn help(name: &str) -> &'static str {
    FAMILIES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, h)| *h)
        .unwrap_or("")
}
