//! Target and network faults become the right error kinds, and the run goes on (rows C1–C13).

use crate::support;

use crate::support::Fault;
use loadpacer::run::RunOptions;

type Kinds = std::collections::BTreeMap<String, u64>;

async fn kinds_against(base: &str, url: &str, timeout: &str) -> (u64, Kinds) {
    kinds_via("pooled", base, url, timeout).await
}

async fn kinds_via(transport: &str, base: &str, url: &str, timeout: &str) -> (u64, Kinds) {
    let yaml = format!(
        "targets:\n  t: {{ base_url: \"{base}\", timeout: {timeout}, max_body: 64KiB, transport: {transport} }}\nplans:\n  p:\n    target: t\n    load: {{ phases: [{{ duration: 1s, rate: 5 }}], max_in_flight: 50, graceful_stop: 5s }}\n    scenarios:\n      - name: s\n        steps:\n          - request: {{ name: r, url: \"{url}\" }}\n"
    );
    let s = support::run_plan(&yaml, None, RunOptions::default()).await;
    (s.requests[0].count, s.requests[0].errors.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c1_refused_connection_is_connect() {
    // Bind then drop a listener: the port is closed, connects are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (n, kinds) = kinds_against(&format!("http://127.0.0.1:{port}"), "/", "2s").await;
    assert_eq!(n, 5, "the run continues and counts every failure");
    assert_eq!(kinds.get("connect"), Some(&5), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c3_target_that_never_answers_times_out() {
    let addr = support::fault_server(Fault::Hang).await;
    let (n, kinds) = kinds_against(&format!("http://{addr}"), "/", "300ms").await;
    assert_eq!(n, 5);
    assert_eq!(kinds.get("timeout"), Some(&5), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c4_reset_mid_body_is_reset() {
    let addr = support::fault_server(Fault::Reset).await;
    let (_, kinds) = kinds_against(&format!("http://{addr}"), "/", "2s").await;
    assert_eq!(kinds.get("reset"), Some(&5), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c6_body_over_the_cap_is_body_too_large() {
    let addr = support::fault_server(Fault::Huge).await;
    let (_, kinds) = kinds_against(&format!("http://{addr}"), "/", "5s").await;
    assert_eq!(kinds.get("body_too_large"), Some(&5), "{kinds:?}");
    // A declared content-length over the cap is refused before reading.
    let t = support::demo_target(Default::default()).await;
    let (_, kinds) = kinds_against(&t.url(), "/bytes?size=200000", "5s").await;
    assert_eq!(kinds.get("body_too_large"), Some(&5), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c8_garbage_response_is_protocol() {
    let addr = support::fault_server(Fault::Garbage).await;
    let (_, kinds) = kinds_against(&format!("http://{addr}"), "/", "2s").await;
    assert_eq!(kinds.get("protocol"), Some(&5), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c12_server_errors_count_as_status_failures() {
    let t = support::demo_target(Default::default()).await;
    let (_, kinds) = kinds_against(&t.url(), "/?status=503", "2s").await;
    assert_eq!(kinds.get("status"), Some(&5), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c13_ids_in_urls_do_not_create_new_series() {
    let t = support::demo_target(Default::default()).await;
    let (n, _) = kinds_against(
        &t.url(),
        "/products?page={{ random_int(1, 1000000) }}",
        "2s",
    )
    .await;
    assert_eq!(n, 5, "one request row, named by config, whatever the URL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_transport_classifies_the_same_faults() {
    let refused = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let cases = [
        (format!("http://{refused}"), "connect"),
        (
            format!("http://{}", support::fault_server(Fault::Hang).await),
            "timeout",
        ),
        (
            format!("http://{}", support::fault_server(Fault::Reset).await),
            "reset",
        ),
        (
            format!("http://{}", support::fault_server(Fault::Huge).await),
            "body_too_large",
        ),
        (
            format!("http://{}", support::fault_server(Fault::Garbage).await),
            "protocol",
        ),
    ];
    for (base, kind) in cases {
        let (n, kinds) = kinds_via("direct", &base, "/", "300ms").await;
        assert_eq!((n, kinds.get(kind)), (5, Some(&5)), "{base}: {kinds:?}");
    }
    let t = support::demo_target(Default::default()).await;
    let (n, kinds) = kinds_via("direct", &t.url(), "/products?page=3", "2s").await;
    assert_eq!((n, kinds.len()), (5, 0), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c10_redirect_loop_stops_at_the_hop_limit() {
    let addr = support::fault_server(Fault::RedirectLoop).await;
    let (n, kinds) = kinds_against(&format!("http://{addr}"), "/", "2s").await;
    assert_eq!((n, kinds.get("protocol")), (5, Some(&5)), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c10_redirect_outside_the_allowlist_is_blocked_not_a_connect_failure() {
    let addr = support::fault_server(Fault::RedirectOut).await;
    // The redirect names a host outside the allowlist: refused before any lookup or connect.
    let yaml = format!(
        "limits: {{ allow_targets: [127.0.0.0/8] }}\ntargets:\n  t: {{ base_url: \"http://{addr}\", timeout: 2s }}\nplans:\n  p:\n    target: t\n    load: {{ phases: [{{ duration: 1s, rate: 5 }}] }}\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: r, url: / }} }}] }}]\n"
    );
    let s = support::run_plan(&yaml, None, RunOptions::default()).await;
    let kinds = &s.requests[0].errors;
    assert_eq!(kinds.get("blocked"), Some(&5), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c5_keep_alive_closed_at_reuse_is_a_counted_stale_retry_not_a_target_reset() {
    let addr = support::fault_server(Fault::CloseAtReuse).await;
    // One VU, idle between requests long enough for its connection to be at risk.
    let yaml = format!(
        "targets:\n  t: {{ base_url: \"http://{addr}\", timeout: 2s, transport: direct }}\nplans:\n  p:\n    target: t\n    load: {{ vus: [{{ duration: 1s, target: 1 }}, {{ duration: 2s, target: 1 }}] }}\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: r, url: / }} }}, {{ think: 600ms }}] }}]\n"
    );
    let s = support::run_plan(&yaml, None, RunOptions::default()).await;
    let r = &s.requests[0];
    assert!(r.count >= 3, "{r:?}");
    assert!(r.errors.is_empty(), "not target errors: {:?}", r.errors);
    assert_eq!(
        s.totals.stale_connection_retries,
        r.count - 1,
        "every reuse found the connection closed and re-sent once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c11_slowloris_body_is_ended_by_the_total_timeout() {
    let addr = support::fault_server(Fault::Trickle).await;
    for transport in ["pooled", "direct"] {
        let (n, kinds) = kinds_via(transport, &format!("http://{addr}"), "/", "500ms").await;
        assert_eq!(
            (n, kinds.get("timeout")),
            (5, Some(&5)),
            "{transport}: {kinds:?}"
        );
    }
}
