//! The daemon's history pages in headless Chromium against a real daemon with runs stored
//! in its SQLite file: a plan page with trends (figures checked against the stored runs,
//! injection in the description shown as text, desktop and phone screenshots), range
//! validation, and the comparison page.

use crate::support;

use loadpacer::demo::DemoOptions;
use std::time::Duration;

const EVIL: &str = "<script>alert(1)</script>";

/// Triggers a run of `plan`; when `cancel_after` is given, cancels it then. Returns the run
/// id once the run is stored.
async fn run_once(base: &str, plan: &str, cancel_after: Option<Duration>) -> String {
    let id = support::trigger(base, plan, None).await;
    if let Some(after) = cancel_after {
        tokio::time::sleep(after).await;
        let r = reqwest::Client::new()
            .post(format!("{base}/api/v1/runs/{id}/cancel"))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "cancel: {}", r.status());
    }
    support::wait_stored(base, &id).await;
    id
}

/// The text of the first `<td class="p95">` in the row of run `id`.
fn p95_cell<'a>(dom: &'a str, id: &str) -> &'a str {
    let row = &dom[dom
        .find(&format!("data-run=\"{id}\""))
        .unwrap_or_else(|| panic!("row of {id}"))..];
    let cell = &row[row.find("class=\"p95\">").unwrap() + 12..];
    &cell[..cell.find('<').unwrap()]
}

/// A daemon with the demo target as target `t` and these plans (YAML under `plans:`), its
/// store in a temp dir; `env` for its token.
async fn daemon(
    head: &str,
    plans: &str,
    env: &[(&str, &str)],
) -> (support::Target, tempfile::TempDir, support::Daemon) {
    let t = support::demo_target(DemoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("d.yaml");
    let yaml = format!(
        "{head}store: {{ path: runs.db }}\ntargets:\n  t: {{ base_url: \"{}\" }}\nplans:\n{plans}",
        t.url()
    );
    std::fs::write(&cfg, yaml).unwrap();
    let d = support::serve(&cfg, env);
    (t, dir, d)
}

fn status(url: &str) -> u16 {
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", url])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_page_shows_trends_of_the_stored_runs_and_compares_runs() {
    let plans = format!("  shop:\n    description: \"{EVIL} nightly\"\n    target: t\n    schedule: {{ cron: \"0 3 * * *\" }}\n    regression: {{ window: 2 }}\n    load: {{ phases: [{{ duration: 2s, rate: 20 }}] }}\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: home, url: / }} }}] }}]\n    thresholds: [{{ metric: latency, expr: \"p(95) < 5s\" }}]\n");
    let (_t, dir, d) = daemon("", &plans, &[]).await;
    let base = d.base.clone();
    let first = run_once(&base, "shop", None).await;
    let second = run_once(&base, "shop", None).await;
    let cut = run_once(&base, "shop", Some(Duration::from_millis(700))).await;
    let stored = support::get_json(&format!("{base}/api/v1/runs/{cut}")).await;
    assert_eq!(stored["status"], "interrupted", "{stored}");

    let b = base.clone();
    let shots = std::env::var_os("LOADPACER_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().to_path_buf());
    let (page, last2) = tokio::task::spawn_blocking(move || {
        for (name, size) in [("desktop", "1280,900"), ("phone", "390,844")] {
            let shot = shots.join(format!("{name}.png"));
            support::chromium(&[
                &format!("--window-size={size}"),
                &format!("--screenshot={}", shot.display()),
                &format!("{b}/plans/shop"),
            ]);
            assert!(
                std::fs::metadata(&shot).unwrap().len() > 10_000,
                "{name} screenshot for a person to look at"
            );
        }
        (
            support::chromium(&["--dump-dom", &format!("{b}/plans/shop")]),
            support::chromium(&["--dump-dom", &format!("{b}/plans/shop?last=2")]),
        )
    })
    .await
    .unwrap();

    // Every run is a row whose figures are the stored summary's.
    for id in [&first, &second, &cut] {
        let run = support::get_json(&format!("{base}/api/v1/runs/{id}")).await;
        let p95 = run["summary"]["totals"]["latency"]["p95_ms"]
            .as_f64()
            .unwrap();
        assert_eq!(p95_cell(&page, id), format!("{p95:.1} ms"), "run {id}");
    }
    assert_eq!(page.matches("data-run=").count(), 3);
    assert_eq!(last2.matches("data-run=").count(), 2, "?last=2 shows two");
    assert!(
        !last2.contains(&format!("data-run=\"{first}\"")),
        "the newest two"
    );
    // Three charts with a line each, the interrupted run marked, the baseline and schedule.
    for chart in ["latency-trend", "errors-trend", "throughput-trend"] {
        let at = page.find(&format!("id=\"{chart}\"")).expect(chart);
        let svg = &page[at..at + page[at..].find("</svg>").unwrap()];
        assert!(svg.contains("<polyline"), "{chart} has a line");
    }
    assert!(
        page.contains("<title>interrupted: "),
        "the cut run is marked"
    );
    assert!(
        page.contains("median of the last 2 passed runs"),
        "baseline in use"
    );
    assert!(page.contains("cron \"0 3 * * *\""), "schedule");
    assert!(page.contains("id=\"thresholds\""), "latest thresholds");
    // The description is text, never markup.
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; nightly"));
    assert!(!page.contains(EVIL));

    // Compare the first two: figures side by side, deltas against the first.
    let b = base.clone();
    let (f, s) = (first.clone(), second.clone());
    let compared = tokio::task::spawn_blocking(move || {
        support::chromium(&["--dump-dom", &format!("{b}/compare?run={f}&run={s}")])
    })
    .await
    .unwrap();
    let table = &compared[compared.find("id=\"compare\"").expect("compare table")..];
    assert!(
        table.contains(&format!("/runs/{first}")) && table.contains(&format!("/runs/{second}"))
    );
    let p95_row = &table[table.find("data-figure=\"p95\"").unwrap()..];
    let p95_row = &p95_row[..p95_row.find("</tr>").unwrap()];
    assert_eq!(p95_row.matches("<td>").count(), 2, "{p95_row}");
    assert!(
        p95_row.contains(" %)"),
        "a delta beside the second: {p95_row}"
    );
    assert!(compared.contains("id=\"compare-requests\""));

    // Parameters are validated; unknown plans and runs are 404.
    assert_eq!(status(&format!("{base}/plans/shop?last=0")), 400);
    assert_eq!(status(&format!("{base}/plans/shop?from=yesterday")), 400);
    assert_eq!(
        status(&format!("{base}/plans/shop?from=2026-12-02&to=2026-12-01")),
        400
    );
    assert_eq!(status(&format!("{base}/plans/nope")), 404);
    assert_eq!(status(&format!("{base}/compare?run={first}")), 400);
    assert_eq!(
        status(&format!("{base}/compare?run={first}&run=..%2Fetc")),
        400
    );
    assert_eq!(
        status(&format!(
            "{base}/compare?run={first}&run=00000000-0000-0000-0000-000000000000"
        )),
        404
    );
    // A date range that holds no run says so.
    let empty =
        support::get_text(&format!("{base}/plans/shop?from=2001-01-01&to=2001-01-02")).await;
    assert!(empty.contains("id=\"no-runs\""), "{empty}");
    drop(d);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_view_follows_a_run_and_its_cancel_button_needs_the_token() {
    use eventsource_stream::Eventsource;
    use futures_util::StreamExt;
    let plans = format!("  soak:\n    description: \"{EVIL}\"\n    target: t\n    load: {{ phases: [{{ name: steady, duration: 20s, rate: 20 }}] }}\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: home, url: / }} }}] }}]\n");
    let (_t, _dir, d) = daemon(
        "server: { token_env: LP_TOKEN }\n",
        &plans,
        &[("LP_TOKEN", "s3cret")],
    )
    .await;
    let base = d.base.clone();
    let client = reqwest::Client::new();
    let id = support::trigger(&base, "soak", Some("s3cret")).await;

    // The event stream: a window a second with growing figures.
    let mut events = client
        .get(format!("{base}/api/v1/runs/{id}/live"))
        .send()
        .await
        .unwrap()
        .bytes_stream()
        .eventsource();
    let mut windows: Vec<serde_json::Value> = Vec::new();
    while windows.len() < 3 {
        let ev = tokio::time::timeout(Duration::from_secs(5), events.next())
            .await
            .expect("a window within 5 s")
            .expect("stream open")
            .unwrap();
        assert_eq!(ev.event, "window");
        windows.push(serde_json::from_str(&ev.data).unwrap());
    }
    let last = &windows[2];
    assert_eq!(last["phase"], "steady");
    assert_eq!(last["target"], 20.0);
    assert!(last["elapsed_s"].as_f64() > windows[1]["elapsed_s"].as_f64());
    assert!(last["requests"].as_u64() > windows[1]["requests"].as_u64());
    assert!(last["windows"].as_array().unwrap().len() >= 2);

    let plan_page = support::get_text(&format!("{base}/plans/soak")).await;
    assert!(
        plan_page.contains(&format!("href=\"/live/{id}\"")),
        "the plan page links to the live view"
    );

    // The page, in Chromium: the script applies the stream (it fills "updated"); the
    // description never becomes markup; the cancel form asks for the token.
    let b = base.clone();
    let run = id.clone();
    let dom = tokio::task::spawn_blocking(move || {
        support::chromium(&["--timeout=3000", "--dump-dom", &format!("{b}/live/{run}")])
    })
    .await
    .unwrap();
    let updated = &dom[dom.find("id=\"updated\">").expect("updated") + 14..];
    assert!(
        !updated.starts_with('<'),
        "the script showed an event: {dom}"
    );
    assert!(dom.contains("id=\"token\"") && dom.contains("Cancel this run"));
    assert!(dom.contains("id=\"window-rows\"><tr>"), "windows listed");

    // Cancel: refused without the token, accepted with it; the stream ends with the status.
    let cancel = format!("{base}/api/v1/runs/{id}/cancel");
    assert_eq!(client.post(&cancel).send().await.unwrap().status(), 401);
    let r = client
        .post(&cancel)
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let end = loop {
        let ev = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("the end within 10 s")
            .expect("stream open")
            .unwrap();
        if ev.event == "end" {
            break serde_json::from_str::<serde_json::Value>(&ev.data).unwrap();
        }
    };
    assert_eq!(end["finished"], "interrupted");
    assert!(
        events.next().await.is_none(),
        "the stream closes after the end"
    );
    let stored = support::get_json(&format!("{base}/api/v1/runs/{id}")).await;
    assert_eq!(stored["status"], "interrupted");

    // A finished run's live page is its report; unknown or bad ids say so.
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirect
        .get(format!("{base}/live/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], format!("/runs/{id}").as_str());
    assert_eq!(status(&format!("{base}/api/v1/runs/{id}/live")), 404);
    assert_eq!(status(&format!("{base}/live/not-a-run")), 400);
    drop(d);
}

/// Issue 24, item 16: a plan of WebSocket steps shows its stream figures on its trend page
/// (it showed 0 requests and `-`), and the Markdown summary has a streams table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_plans_show_stream_figures_on_trend_pages_and_in_markdown() {
    let t = support::demo_target(DemoOptions::default()).await;
    let (_dir, config) = support::write_config(&format!(
        "server: {{ listen: \"127.0.0.1:0\" }}\nstore: {{ path: runs.db }}\ntargets:\n  t: {{ base_url: \"{}\" }}\nplans:\n  feed:\n    target: t\n    load: {{ phases: [{{ duration: 1s, rate: 4 }}] }}\n    scenarios: [{{ name: s, steps: [{{ ws: {{ name: echo, path: \"/ws/echo\", actions: [{{ send: hi }}, {{ expect: {{ contains: hi, timeout: 2s }} }}] }} }}] }}]\n",
        t.url()
    ));
    let d = support::serve(&config, &[]);
    for _ in 0..2 {
        let id = support::trigger(&d.base, "feed", None).await;
        let run = support::wait_stored(&d.base, &id).await;
        assert_eq!(run["status"], "passed", "{run}");
    }
    let page = support::get_text(&format!("{}/plans/feed", d.base)).await;
    assert!(page.contains("id=\"streams-trend\""), "{page}");
    let table = &page[page.find("id=\"plan-streams\"").expect("a streams table")..];
    let rows: Vec<&str> = table.split("<tr>").skip(2).collect();
    assert_eq!(rows.len(), 2, "{table}");
    for row in rows {
        let cells: Vec<&str> = row.split("<td>").skip(1).collect();
        let sessions: u64 = cells[1].split('<').next().unwrap().parse().unwrap();
        assert!(sessions >= 3, "{row}");
        assert!(cells[3].contains(" ms"), "a reply p95: {row}");
    }
    let runs = support::get_json(&format!("{}/api/v1/runs?plan=feed", d.base)).await;
    let id = runs["runs"][0]["id"].as_str().unwrap();
    let one = support::get_json(&format!("{}/api/v1/runs/{id}", d.base)).await;
    let summary: loadpacer::report::Summary =
        serde_json::from_value(one["summary"].clone()).unwrap();
    let md = loadpacer::report::markdown::render(&summary);
    assert!(
        md.contains("| stream | sessions | connect p95 | reply p95"),
        "{md}"
    );
    assert!(md.contains("| s/echo (ws) |"), "{md}");
    assert!(!md.contains("**total**"), "no empty HTTP table: {md}");
}
