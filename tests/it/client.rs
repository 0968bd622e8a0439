//! The command-line client against a real daemon: `runs`, `trigger --wait`, `cancel`,
//! `reload`, with one clear line and a distinct exit code for each kind of refusal.

use crate::support;

use loadpacer::demo::DemoOptions;
use std::process::{Command, Output};

async fn client(base: &str, token: &str, args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let (base, token) = (base.to_string(), token.to_string());
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_loadpacer"))
            .args(&args)
            .env("LOADPACER_SERVER", base)
            .env("LOADPACER_TOKEN", token)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn said(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_lists_triggers_waits_cancels_and_reloads() {
    let t = support::demo_target(DemoOptions::default()).await;
    let (dir, config) = support::write_config(&format!(
        r#"server: {{ listen: "127.0.0.1:0", token_env: LOADPACER_TEST_TOKEN }}
targets:
  demo: {{ base_url: "{}" }}
plans:
  quick:
    target: demo
    load: {{ phases: [{{ duration: 1s, rate: 10 }}] }}
    scenarios: [{{ name: s, steps: [{{ request: {{ name: home, url: / }} }}] }}]
  failing:
    target: demo
    load: {{ phases: [{{ duration: 1s, rate: 10 }}] }}
    scenarios: [{{ name: s, steps: [{{ request: {{ name: broken, url: "/?status=500" }} }}] }}]
    thresholds: [{{ metric: errors, expr: "rate < 0.01" }}]
  long:
    target: demo
    load: {{ phases: [{{ duration: 60s, rate: 5 }}], graceful_stop: 1s }}
    scenarios: [{{ name: s, steps: [{{ request: {{ name: home, url: / }} }}] }}]
"#,
        t.url()
    ));
    let d = support::serve(&config, &[("LOADPACER_TEST_TOKEN", "t0k3n")]);
    let base = d.base.as_str();

    let out = client(base, "t0k3n", &["runs"]).await;
    assert_eq!((out.status.code(), said(&out).trim()), (Some(0), "no runs"));

    let out = client(base, "t0k3n", &["trigger", "quick", "--wait"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(
        said(&out).contains("of quick: PASSED  requests 10"),
        "{}",
        said(&out)
    );
    let out = client(base, "t0k3n", &["trigger", "failing", "--wait"]).await;
    assert_eq!(out.status.code(), Some(1), "the verdict: {}", said(&out));
    assert!(said(&out).contains("FAILED") && said(&out).contains("errors 100.00 %"));

    let out = client(base, "t0k3n", &["runs", "--plan", "quick"]).await;
    let table = said(&out);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        table.starts_with("ID ") && table.contains(" quick ") && table.contains(" passed "),
        "{table}"
    );
    assert!(!table.contains("failing"), "{table}");
    let out = client(base, "t0k3n", &["runs", "--status", "failed", "--json"]).await;
    let runs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1);
    // Times are RFC 3339, with the milliseconds beside them.
    let started = runs[0]["started_at"].as_str().unwrap();
    let parsed = chrono::DateTime::parse_from_rfc3339(started).unwrap();
    assert_eq!(
        parsed.timestamp_millis(),
        runs[0]["started_at_ms"].as_i64().unwrap()
    );

    let out = client(base, "t0k3n", &["trigger", "long", "--json"]).await;
    let started: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = started["id"].as_str().unwrap().to_string();
    let out = client(base, "t0k3n", &["cancel", &id]).await;
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert_eq!(said(&out).trim(), format!("cancelling run {id}"));
    let out = client(base, "t0k3n", &["reload"]).await;
    assert_eq!(
        (out.status.code(), said(&out).trim()),
        (Some(0), "reloaded: 3 plan(s)")
    );

    // Refusals: one line each, each with its own exit code.
    let out = client(base, "wrong", &["trigger", "quick"]).await;
    assert_eq!(out.status.code(), Some(5));
    assert!(
        said(&out).starts_with("error: the daemon refused the token"),
        "{}",
        said(&out)
    );
    let out = client(base, "t0k3n", &["trigger", "nope"]).await;
    assert_eq!(out.status.code(), Some(6));
    assert_eq!(said(&out).lines().count(), 1, "{}", said(&out));
    let out = client(base, "t0k3n", &["cancel", &uuid::Uuid::nil().to_string()]).await;
    assert_eq!(out.status.code(), Some(6));
    let closed = format!("http://{}", support::closed_port());
    let out = client(&closed, "t0k3n", &["runs"]).await;
    assert_eq!(out.status.code(), Some(4));
    assert!(
        said(&out).contains("cannot reach the daemon at http://127.0.0.1:"),
        "{}",
        said(&out)
    );
    drop(dir);
}

/// A loopback server that answers every request with `status`, `content_type` and `body`.
async fn answering(status: &'static str, content_type: &'static str, body: String) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(body.as_bytes()).await;
            });
        }
    });
    format!("http://{addr}")
}

/// H4, H5 and the exit codes: the client does not take a web page for "no runs", never
/// prints a server's control characters raw, and refuses a run id that is not a UUID as an
/// unknown run before asking anyone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_does_not_trust_what_the_server_says() {
    let html = answering("200 OK", "text/html", "<html>welcome</html>".into()).await;
    let out = client(&html, "", &["runs"]).await;
    assert_eq!(out.status.code(), Some(4), "{}", said(&out));
    assert!(
        said(&out).contains("not JSON (text/html)"),
        "{}",
        said(&out)
    );

    let evil = "shop\u{1b}]0;pwned\u{7}\u{1b}[2J";
    let run = loadpacer::api::types::Run {
        id: "0190a0b0-0000-7000-8000-000000000000".into(),
        plan: evil.into(),
        trigger: loadpacer::store::Trigger::Api,
        status: "passed".parse().unwrap(),
        config_hash: "h".into(),
        started_at: Some("2026-12-07T00:00:00Z".into()),
        started_at_ms: 0,
        finished_at: None,
        finished_at_ms: Some(1000),
        summary: None,
    };
    let page = loadpacer::api::types::RunPage {
        runs: vec![run],
        limit: 20,
        offset: 0,
    };
    // JSON that is not the API's answer (here: a page without its limit) is not taken for one.
    let mut partial = serde_json::to_value(&page).unwrap();
    partial.as_object_mut().unwrap().remove("limit");
    let odd = answering("200 OK", "application/json", partial.to_string()).await;
    let out = client(&odd, "", &["runs"]).await;
    assert_eq!(out.status.code(), Some(4), "{}", said(&out));
    assert!(
        said(&out).contains("not the API's answer"),
        "{}",
        said(&out)
    );
    let lying = answering(
        "200 OK",
        "application/json",
        serde_json::to_string(&page).unwrap(),
    )
    .await;
    let out = client(&lying, "", &["runs"]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(!said(&out).contains('\u{1b}'), "{:?}", said(&out));
    assert!(said(&out).contains(r"shop\u{1b}]0;pwned"), "{}", said(&out));
    let refusing = answering(
        "409 Conflict",
        "application/json",
        serde_json::json!({ "error": evil }).to_string(),
    )
    .await;
    let out = client(&refusing, "", &["trigger", "shop"]).await;
    assert_eq!(out.status.code(), Some(7));
    assert!(!said(&out).contains('\u{1b}'), "{:?}", said(&out));

    let out = client(&html, "", &["cancel", "not-a-uuid"]).await;
    assert_eq!(out.status.code(), Some(6), "{}", said(&out));
    assert!(said(&out).contains("run ids are UUIDs"), "{}", said(&out));
}
