//! WebSocket steps against the demo target's `/ws/echo` and `/ws/ticker` on loopback, where
//! every figure has a known truth: tick counts and gaps, echo round trips, a frozen server,
//! a server that closes sessions, a refused upgrade, and a flow that logs in over HTTP first.

use crate::support;

use crate::support::{demo_target, run_observed, run_plan};
use loadpacer::demo::DemoOptions;
use loadpacer::report::{Outcome, Summary};
use loadpacer::run::RunOptions;
use std::time::Duration;

fn plan(url: &str, load: &str, steps: &str, thresholds: &str) -> String {
    format!(
        "targets: {{ t: {{ base_url: \"{url}\", timeout: 5s }} }}\nplans:\n  p:\n    target: t\n    load: {load}\n    scenarios:\n      - name: s\n        steps:\n{steps}\n    thresholds: [{thresholds}]\n"
    )
}

/// A demo target frozen for 1 s of every 2 s.
async fn frozen_1s_of_every_2s() -> support::Target {
    demo_target(DemoOptions {
        stall: Some((Duration::from_secs(1), Duration::from_secs(2))),
        ..Default::default()
    })
    .await
}

fn stream<'a>(s: &'a Summary, name: &str) -> &'a loadpacer::report::summary::StreamSummary {
    s.streams
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no stream {name}: {:?}", s.streams))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticker_every_100ms_for_10s_gives_100_messages_per_session_and_a_100ms_gap() {
    let t = demo_target(DemoOptions::default()).await;
    let yaml = plan(
        &t.url(),
        "{ vus: [{ duration: 0s, target: 2 }, { duration: 12s, target: 2 }], iterations: 2 }",
        "          - ws: { name: ticks, path: \"/ws/ticker?every=100ms\", actions: [{ hold: { duration: 10s } }] }",
        "{ metric: \"messages{step=ticks}\", expr: \"count >= 190\" }",
    );
    let s = run_plan(&yaml, None, RunOptions::default()).await;
    let k = stream(&s, "ticks");
    assert_eq!(k.sessions, 2, "{k:?}");
    // A tick every 100 ms for 10 s: 100 per session, give or take the one at the boundary.
    let per_session = k.messages_received as f64 / k.sessions as f64;
    assert!(
        (99.0..=101.0).contains(&per_session),
        "{per_session} per session: {k:?}"
    );
    assert!(
        (95.0..=106.0).contains(&k.gap.p50_ms),
        "gap p50 {}",
        k.gap.p50_ms
    );
    assert!(
        (95.0..=130.0).contains(&k.first_message.p50_ms),
        "{:?}",
        k.first_message
    );
    assert_eq!(k.ends.get("normal"), Some(&2), "{:?}", k.ends);
    assert_eq!(k.disconnect_rate, 0.0);
    assert_eq!(s.result, Outcome::Passed, "{:?}", s.reasons);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_with_a_20ms_delay_gives_a_20ms_round_trip_and_captures_from_the_reply() {
    let t = demo_target(DemoOptions::default()).await;
    let steps = "          - ws:\n              name: echo\n              path: \"/ws/echo?delay_ms=20\"\n              actions:\n                - send_json: { op: hello, vu: \"{{ vu }}\" }\n                - expect: { json: { \"$.op\": hello }, capture: { who: \"$.vu\" }, timeout: 2s }\n                - send: \"again {{ who }}\"\n                - expect: { regex: \"^again [0-9]+$\", timeout: 2s }\n                - ping: {}";
    let yaml = plan(
        &t.url(),
        "{ phases: [{ duration: 3s, rate: 10 }] }",
        steps,
        "{ metric: \"ws_rtt{step=echo}\", expr: \"p(50) < 100ms\" }",
    );
    let s = run_plan(&yaml, None, RunOptions::default()).await;
    let k = stream(&s, "echo");
    assert!(k.sessions >= 25, "{k:?}");
    assert!(
        (19.0..=35.0).contains(&k.rtt.p50_ms),
        "rtt p50 {}",
        k.rtt.p50_ms
    );
    // Issue 24, item 5: pongs come at once (the echo delays only messages) and are
    // reported apart from replies, never mixed into them.
    assert!(k.ping_rtt.p99_ms < 15.0, "ping {:?}", k.ping_rtt);
    assert!(
        k.rtt.min_ms >= 19.0,
        "no pong among the replies: {:?}",
        k.rtt
    );
    assert_eq!(k.messages_sent, 2 * k.sessions, "{k:?}");
    assert_eq!(k.messages_received, 2 * k.sessions, "{k:?}");
    // Both expects passed in every session: the capture fed the second message.
    assert_eq!(s.totals.checks_failed, 0, "{:?}", s.reasons);
    assert!(s.totals.checks_passed >= 2 * k.sessions, "{:?}", s.totals);
    assert_eq!(s.result, Outcome::Passed, "{:?}", s.reasons);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_server_shows_in_ping_round_trips_as_it_does_for_http() {
    // Frozen for 1 s of every 2 s: about half the pings wait for the freeze to end.
    let t = frozen_1s_of_every_2s().await;
    let yaml = plan(
        &t.url(),
        "{ phases: [{ duration: 4s, rate: 20 }] }",
        "          - ws: { name: pinger, path: /ws/echo, actions: [{ ping: {} }] }",
        "",
    );
    let s = run_plan(&yaml, None, RunOptions::default()).await;
    let k = stream(&s, "pinger");
    assert!(k.sessions >= 60, "{k:?}");
    assert!(
        k.ping_rtt.p90_ms >= 300.0,
        "the freeze is hidden: {:?}",
        k.ping_rtt
    );
    assert!(k.ping_rtt.p50_ms < 900.0, "{:?}", k.ping_rtt);
    assert!(k.rtt.is_empty(), "pings are not replies: {:?}", k.rtt);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_closes_sessions_is_a_disconnect_and_fails_its_threshold() {
    let t = demo_target(DemoOptions::default()).await;
    let yaml = plan(
        &t.url(),
        "{ phases: [{ duration: 2s, rate: 5 }] }",
        "          - ws: { name: short, path: \"/ws/ticker?every=20ms&count=5&close=1011\", actions: [{ hold: { duration: 3s } }] }",
        "{ metric: \"disconnects{step=short}\", expr: \"rate < 0.5\" }",
    );
    let s = run_plan(&yaml, None, RunOptions::default()).await;
    let k = stream(&s, "short");
    assert!(k.sessions >= 8, "{k:?}");
    assert_eq!(
        k.ends.get("closed_by_server"),
        Some(&k.sessions),
        "{:?}",
        k.ends
    );
    assert_eq!(k.messages_received, 5 * k.sessions, "{k:?}");
    assert!((k.disconnect_rate - 1.0).abs() < 1e-9);
    assert_eq!(s.result, Outcome::Failed, "{:?}", s.reasons);
    assert!(
        s.reasons
            .iter()
            .any(|r| r.contains("disconnects{step=short}")),
        "{:?}",
        s.reasons
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upgrade_and_an_unmet_expect_are_named_and_bounded() {
    let t = demo_target(DemoOptions::default()).await;
    let steps = "          - ws: { name: nowhere, path: /ws/nope }\n";
    let yaml = plan(
        &t.url(),
        "{ phases: [{ duration: 1s, rate: 5 }] }",
        steps,
        "",
    );
    let s = run_plan(&yaml, None, RunOptions::default()).await;
    let k = stream(&s, "nowhere");
    assert_eq!(k.sessions, 0);
    assert!(k.failed_to_open >= 4, "{k:?}");
    assert_eq!(
        k.ends.get("refused"),
        Some(&k.failed_to_open),
        "{:?}",
        k.ends
    );
    assert_ne!(s.result, Outcome::Passed);

    // The ticker never says "hello": the expect fails after its timeout, counted as a
    // failed check, and the session ends as a timeout (issue 24, item 11).
    let steps = "          - ws: { name: wait, path: \"/ws/ticker?every=50ms\", actions: [{ expect: { contains: hello, timeout: 300ms } }] }";
    let yaml = plan(
        &t.url(),
        "{ phases: [{ duration: 1s, rate: 3 }] }",
        steps,
        "",
    );
    let started = std::time::Instant::now();
    let s = run_plan(&yaml, None, RunOptions::default()).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let k = stream(&s, "wait");
    assert!(k.sessions >= 2, "{k:?}");
    assert_eq!(s.totals.checks_failed, k.sessions, "{:?}", s.totals);
    assert_eq!(k.ends.get("timeout"), Some(&k.sessions), "{:?}", k.ends);
    assert_eq!(k.ends.get("normal"), None, "{:?}", k.ends);
    assert_eq!(s.result, Outcome::Failed, "{:?}", s.reasons);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_logs_in_over_http_then_streams_and_metrics_show_the_stream() {
    let t = demo_target(DemoOptions::default()).await;
    let steps = "          - request: { name: login, method: POST, url: /auth/login, json: { user: u } }\n            capture: { token: \"$.token\" }\n          - ws:\n              name: feed\n              path: /ws/echo\n              headers: { Authorization: \"Bearer {{ token }}\" }\n              query: { token: \"{{ token }}\" }\n              actions:\n                - send: \"{{ token }}\"\n                - expect: { regex: \"^tok-[0-9]+$\", timeout: 2s }\n                - ping: { count: 2 }\n                - close: {}";
    let yaml = plan(
        &t.url(),
        "{ phases: [{ duration: 2s, rate: 5 }] }",
        steps,
        "",
    );
    let metrics = loadpacer::metrics::Metrics::default();
    let s = run_observed(&yaml, None, RunOptions::default(), Some(&metrics)).await;
    let k = stream(&s, "feed");
    assert!(k.sessions >= 8, "{k:?}");
    assert_eq!(s.totals.checks_failed, 0, "{:?}", s.reasons);
    assert_eq!(s.result, Outcome::Passed, "{:?}", s.reasons);
    let text = metrics.render();
    for family in [
        "loadpacer_stream_connect_duration_seconds_bucket{plan=\"p\",scenario=\"s\",step=\"feed\",protocol=\"ws\"",
        "loadpacer_stream_round_trip_seconds_count{plan=\"p\",scenario=\"s\",step=\"feed\",protocol=\"ws\",kind=\"reply\"}",
        "loadpacer_stream_round_trip_seconds_count{plan=\"p\",scenario=\"s\",step=\"feed\",protocol=\"ws\",kind=\"ping\"}",
        "loadpacer_stream_messages_total{plan=\"p\",scenario=\"s\",step=\"feed\",protocol=\"ws\",direction=\"received\"}",
        "loadpacer_stream_session_ends_total{plan=\"p\",scenario=\"s\",step=\"feed\",protocol=\"ws\",kind=\"normal\"}",
        "loadpacer_stream_sessions_open{plan=\"p\",scenario=\"s\",step=\"feed\",protocol=\"ws\"} 0",
    ] {
        assert!(text.contains(family), "{family} missing:\n{text}");
    }
    support::promtool_check_metrics(&text);
    // The HTML report has the streams chart and table.
    let html = loadpacer::report::html::render(&s);
    assert!(html.contains("id=\"streams-chart\"") && html.contains("id=\"streams\""));
    assert!(s
        .windows
        .iter()
        .any(|w| w.stream_messages > 0 && w.stream_sessions > 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stream_gives_first_event_gaps_and_stops_after_its_events() {
    let t = demo_target(DemoOptions::default()).await;
    let yaml = plan(
        &t.url(),
        "{ phases: [{ duration: 2s, rate: 3 }] }",
        "          - sse: { name: feed, path: \"/sse/stream?every=100ms\", duration: 5s, events: 20, check: { event: tick, json: { \"$.seq\": exists } } }",
        "{ metric: \"sse_first_event{step=feed}\", expr: \"p(95) < 500ms\" }",
    );
    let s = run_plan(&yaml, None, RunOptions::default()).await;
    let k = stream(&s, "feed");
    assert!(k.sessions >= 5, "{k:?}");
    assert_eq!(k.protocol, "sse");
    assert_eq!(k.messages_received, 20 * k.sessions, "{k:?}");
    assert_eq!(
        k.event_types.get("tick"),
        Some(&(20 * k.sessions)),
        "{:?}",
        k.event_types
    );
    assert!(
        (95.0..=106.0).contains(&k.gap.p50_ms),
        "gap p50 {}",
        k.gap.p50_ms
    );
    assert!(
        (95.0..=130.0).contains(&k.first_message.p50_ms),
        "{:?}",
        k.first_message
    );
    assert_eq!(k.ends.get("normal"), Some(&k.sessions), "{:?}", k.ends);
    // Every event passed the check on its data.
    assert_eq!(s.totals.checks_passed, 20 * k.sessions, "{:?}", s.totals);
    assert_eq!(s.result, Outcome::Passed, "{:?}", s.reasons);
}

/// Issue 24, item 4: where nothing was measured there is no figure. A plan of event streams
/// alone has no HTTP latency (null in JSON, no TOTAL row under the stream table), an event
/// stream has no round trips, and a session that got one event has no gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn figures_nothing_measured_are_absent_not_zero() {
    let t = demo_target(DemoOptions::default()).await;
    let yaml = plan(
        &t.url(),
        "{ phases: [{ duration: 1s, rate: 2 }] }",
        "          - sse: { name: one, path: \"/sse/stream?every=50ms\", duration: 5s, events: 1 }",
        "",
    );
    let s = run_plan(&yaml, None, RunOptions::default()).await;
    let k = stream(&s, "one");
    assert!(k.sessions >= 2, "{k:?}");
    let json: serde_json::Value = serde_json::to_value(&s).unwrap();
    assert!(json["totals"]["latency"].is_null(), "{}", json["totals"]);
    let j = &json["streams"][0];
    assert!(j["rtt"].is_null() && j["gap"].is_null(), "{j}");
    assert!(!j["first_message"].is_null(), "{j}");
    support::check_summary_schema(&s);
    let text = loadpacer::report::console::render(&s);
    assert!(!text.contains("TOTAL"), "{text}");
    assert!(!text.contains(" 0.0ms"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_stream_reconnects_after_retry_and_resumes_from_the_last_event_id() {
    let t = demo_target(DemoOptions::default()).await;
    // The server ends each response after 5 events and asks for a 100-ms retry: events
    // 1-5, then 6-10 and 11-15 on the reconnects, each resumed from Last-Event-ID. Without
    // resumption the seq would restart at 1 and 12 would never come.
    let steps = "          - sse: { name: resumed, path: \"/sse/stream?every=30ms&count=5&retry=100\", duration: 5s, until: { json: { \"$.seq\": 12 }, capture: { seen: \"$.seq\" } } }\n          - request: { name: after, url: \"/?n={{ seen }}\" }";
    let yaml = plan(
        &t.url(),
        "{ phases: [{ duration: 1s, rate: 3 }] }",
        steps,
        "",
    );
    let s = run_plan(&yaml, None, RunOptions::default()).await;
    let k = stream(&s, "resumed");
    assert!(k.sessions >= 2, "{k:?}");
    assert_eq!(k.reconnects, 2 * k.sessions, "{k:?}");
    assert_eq!(k.messages_received, 12 * k.sessions, "{k:?}");
    assert_eq!(k.ends.get("normal"), Some(&k.sessions), "{:?}", k.ends);
    assert_eq!(s.totals.checks_failed, 0, "{:?}", s.reasons);
    assert_eq!(s.result, Outcome::Passed, "{:?}", s.reasons);

    // Without reconnects the drop is a disconnect and `until` is a failed check.
    let steps = "          - sse: { name: once, path: \"/sse/stream?every=30ms&count=5\", duration: 2s, reconnect: 0, until: { json: { \"$.seq\": 12 } } }";
    let yaml = plan(
        &t.url(),
        "{ phases: [{ duration: 1s, rate: 3 }] }",
        steps,
        "",
    );
    let s = run_plan(&yaml, None, RunOptions::default()).await;
    let k = stream(&s, "once");
    assert_eq!(
        k.ends.get("closed_by_server"),
        Some(&k.sessions),
        "{:?}",
        k.ends
    );
    assert_eq!(s.totals.checks_failed, k.sessions, "{:?}", s.totals);
    assert_eq!(s.result, Outcome::Failed, "{:?}", s.reasons);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_publisher_shows_in_time_to_first_event_and_a_plain_page_is_refused() {
    let t = frozen_1s_of_every_2s().await;
    let yaml = plan(
        &t.url(),
        "{ phases: [{ duration: 4s, rate: 10 }] }",
        "          - sse: { name: first, path: \"/sse/stream?every=10ms\", duration: 3s, events: 1 }",
        "",
    );
    let s = run_plan(&yaml, None, RunOptions::default()).await;
    let k = stream(&s, "first");
    assert!(k.sessions >= 30, "{k:?}");
    assert!(
        k.first_message.p90_ms >= 300.0,
        "the freeze is hidden: {:?}",
        k.first_message
    );

    let t = demo_target(DemoOptions::default()).await;
    let yaml = plan(
        &t.url(),
        "{ phases: [{ duration: 1s, rate: 3 }] }",
        "          - sse: { name: page, path: /, duration: 1s }",
        "",
    );
    let s = run_plan(&yaml, None, RunOptions::default()).await;
    let k = stream(&s, "page");
    assert_eq!(k.sessions, 0, "{k:?}");
    assert_eq!(
        k.ends.get("refused"),
        Some(&k.failed_to_open),
        "{:?}",
        k.ends
    );
    assert!(
        s.reasons
            .iter()
            .any(|r| r.contains("no stream session opened (refused")),
        "{:?}",
        s.reasons
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_streams_example_runs_clean_against_the_demo_target() {
    let t = demo_target(DemoOptions::default()).await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let yaml = std::fs::read_to_string(root.join("config/examples/streams.yaml"))
        .unwrap()
        .replace("http://127.0.0.1:18080", &t.url())
        // The same flow, shorter: 4 s instead of 20.
        .replace("duration: 15s, rate: 5", "duration: 1s, rate: 5")
        .replace(
            "duration: 5s, rate: 1, ramp_to: 5",
            "duration: 3s, rate: 1, ramp_to: 5",
        );
    let s = run_plan(&yaml, None, RunOptions::default()).await;
    for name in ["prices", "echo", "notifications"] {
        let k = stream(&s, name);
        assert!(k.sessions >= 5, "{name}: {k:?}");
        assert_eq!(k.disconnect_rate, 0.0, "{name}: {:?}", k.ends);
    }
    assert_eq!(
        stream(&s, "notifications").messages_received,
        10 * stream(&s, "notifications").sessions
    );
    assert_eq!(s.totals.checks_failed, 0, "{:?}", s.reasons);
    assert_eq!(
        s.result,
        Outcome::Passed,
        "{:?} {:?}",
        s.reasons,
        s.thresholds
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_are_graded_by_their_own_bands_with_throughput() {
    let t = demo_target(DemoOptions::default()).await;
    // The echo answers in about 20 ms: not excellent (5 ms), good (100 ms). The request is
    // fast enough for excellent but sends 5/s, below the excellent band's 1,000/s: good.
    let steps = "          - request: { name: home, url: /, grades: { excellent: { p95: 1s, error_rate: 0.01, throughput: 1000 }, good: { p95: 1s, error_rate: 0.01, throughput: 1 } } }\n          - ws: { name: echo, path: \"/ws/echo?delay_ms=20\", grades: { excellent: { p95: 5ms, error_rate: 0 }, good: { p95: 100ms, error_rate: 0 } }, actions: [{ send: hi }, { expect: { equals: hi, timeout: 2s } }] }";
    let yaml = plan(
        &t.url(),
        "{ phases: [{ duration: 2s, rate: 5 }] }",
        steps,
        "",
    );
    let s = run_plan(&yaml, None, RunOptions::default()).await;
    assert_eq!(
        stream(&s, "echo").grade.map(|g| g.as_str()),
        Some("good"),
        "{:?}",
        stream(&s, "echo")
    );
    let home = s.requests.iter().find(|r| r.name == "home").unwrap();
    assert_eq!(home.grade.map(|g| g.as_str()), Some("good"), "{home:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faulty_stream_servers_get_named_ends_bounded_in_time() {
    use crate::support::{fault_server, Fault};
    // (fault, step, the end every attempt or session must get)
    let cases = [
        (
            Fault::Hang,
            "ws: { name: x, timeout: 500ms, actions: [{ send: hi }] }",
            "timeout",
        ),
        (
            Fault::Garbage,
            "ws: { name: x, actions: [{ send: hi }] }",
            "protocol",
        ),
        (
            Fault::WsGarbageFrames,
            "ws: { name: x, actions: [{ hold: { duration: 2s } }] }",
            "protocol",
        ),
        (
            Fault::WsHugeMessage,
            "ws: { name: x, actions: [{ hold: { duration: 2s } }] }",
            "too_large",
        ),
        (
            Fault::Hang,
            "sse: { name: x, timeout: 500ms, duration: 2s }",
            "timeout",
        ),
        (
            // Invalid UTF-8 is decoded with replacement characters, as the SSE standard says;
            // an event that never ends is what a broken publisher does, bounded by max_body.
            Fault::SseEndlessLine,
            "sse: { name: x, duration: 2s }",
            "too_large",
        ),
    ];
    for (fault, step, want) in cases {
        let addr = fault_server(fault).await;
        let yaml = plan(
            &format!("http://{addr}"),
            "{ phases: [{ duration: 1s, rate: 3 }] }",
            &format!("          - {step}"),
            "",
        );
        let started = std::time::Instant::now();
        let s = run_plan(&yaml, None, RunOptions::default()).await;
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{step}: not bounded"
        );
        let k = stream(&s, "x");
        let attempts = k.sessions + k.failed_to_open;
        assert!(attempts >= 2, "{step}: {k:?}");
        assert_eq!(k.ends.get(want), Some(&attempts), "{step}: {:?}", k.ends);
        assert_ne!(s.result, Outcome::Passed, "{step}");
    }
}
