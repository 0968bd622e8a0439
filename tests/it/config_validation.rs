//! Every invalid-config fixture, with the exact messages a user sees (rows A1–A15), and every
//! example plan validates.

use crate::support;

use loadpacer::config;
use std::time::{Duration, Instant};

fn errors_of(name: &str) -> Vec<String> {
    let path = support::fixture(&format!("config/{name}"));
    let env = |k: &str| (k == "LOADPACER_TEST_SET").then(|| "x".to_string());
    let text = std::fs::read_to_string(&path).unwrap();
    match config::load_str(&text, name, path.parent(), &env) {
        Ok(_) => panic!("{name} should be rejected"),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn a01_to_a15_invalid_fixtures_give_located_messages() {
    let table: &[(&str, &[&str])] = &[
        ("invalid-a01-malformed.yaml", &["invalid-a01-malformed.yaml:6:4: while parsing a block mapping, did not find expected key"]),
        ("invalid-a01-tab-indent.yaml", &["invalid-a01-tab-indent.yaml:5:2: tabs disallowed within this context (block indentation)"]),
        ("invalid-a01-unclosed-flow.yaml", &["invalid-a01-unclosed-flow.yaml:3:1: while parsing a flow mapping, did not find expected ',' or '}'"]),
        ("invalid-a02-unknown-field.yaml", &[
            "invalid-a02-unknown-field.yaml:4:5: unknown field `tiemout`; did you mean `timeout`? (expected one of: base_url, headers, timeout, max_redirects, max_body, http2, transport, ca_file)",
            "invalid-a02-unknown-field.yaml:5:1: plans: no plan is defined; add at least one under `plans:`",
        ]),
        // Every unknown field of a file at once, not only the first serde meets.
        ("invalid-a02-three-misspelt-keys.yaml", &[
            "invalid-a02-three-misspelt-keys.yaml:1:11: unknown field `max_rsp`; did you mean `max_rps`? (expected one of: max_rps, max_vus, max_in_flight, max_concurrent_runs, allow_targets)",
            "invalid-a02-three-misspelt-keys.yaml:3:44: unknown field `tiemout`; did you mean `timeout`? (expected one of: base_url, headers, timeout, max_redirects, max_body, http2, transport, ca_file)",
            "invalid-a02-three-misspelt-keys.yaml:10:9: unknown field `wieght`; did you mean `weight`? (expected one of: name, weight, steps)",
        ]),
        // A variable captured by another flow, or later in the same one, is not defined here.
        ("invalid-variable-from-another-flow.yaml", &[
            "invalid-variable-from-another-flow.yaml:14:30: plans.p.scenarios[1].steps[0].request.headers: variable \"authToken\" is not defined here: it must be a CSV column, a setup capture, or captured by an earlier step of the same flow (built-ins: vu, iteration, random_int, random_string, uuid(), iso_timestamp(), env.NAME)",
            "invalid-variable-from-another-flow.yaml:15:42: plans.p.scenarios[1].steps[1].request.url: variable \"order_id\" is not defined here: it must be a CSV column, a setup capture, or captured by an earlier step of the same flow (built-ins: vu, iteration, random_int, random_string, uuid(), iso_timestamp(), env.NAME)",
        ]),
        // WebSocket steps: every mistake of a session at once, located.
        ("invalid-ws-steps.yaml", &[
            "invalid-ws-steps.yaml:13:19: plans.p.scenarios[0].steps[0].ws.actions[0].expect.timeout: an expect needs a timeout, e.g. `timeout: 5s`: without a bound a silent server would hold the session forever",
            "invalid-ws-steps.yaml:14:19: plans.p.scenarios[0].steps[0].ws.actions[1]: an action has exactly one of `send`, `send_json`, `expect`, `ping`, `hold` or `close`",
            "invalid-ws-steps.yaml:16:19: plans.p.scenarios[0].steps[0].ws.actions[2].hold: `every` sends a message: set `send` or `send_json` too",
            "invalid-ws-steps.yaml:17:19: plans.p.scenarios[0].steps[0].ws.actions[3]: unknown field `sned`; did you mean `send`? (expected one of: send, send_json, expect, ping, hold, close)",
            "invalid-ws-steps.yaml:17:19: plans.p.scenarios[0].steps[0].ws.actions[3]: an action has exactly one of `send`, `send_json`, `expect`, `ping`, `hold` or `close`",
            "invalid-ws-steps.yaml:19:19: plans.p.scenarios[0].steps[0].ws.actions[5]: nothing can follow `close`: the session is closed",
            "invalid-ws-steps.yaml:20:25: plans.p.scenarios[0].steps[1].ws.name: \"bad\\tname\" has a control character (a tab or a line break); names are shown on one line",
            "invalid-ws-steps.yaml:20:53: plans.p.scenarios[0].steps[1].ws.subprotocols[0]: \"a b\" must be a subprotocol token (printable ASCII, no spaces or commas)",
            "invalid-ws-steps.yaml:22:19: plans.p.thresholds[0].metric: step \"nope\" is not a ws or sse step name of this plan",
            "invalid-ws-steps.yaml:23:37: plans.p.thresholds[1].expr: aggregation \"p(95)\" does not apply to this metric; latency, ttfb and the stream durations (ws_connect, ws_rtt, ws_ping, first_message, message_gap) take p(N), avg, min, max or count; errors, checks, requests, iterations, dropped, messages and disconnects take rate or count; host and process figures take avg or max",
        ]),
        // Server-Sent Events steps: every mistake at once, located.
        ("invalid-sse-steps.yaml", &[
            "invalid-sse-steps.yaml:10:42: plans.p.scenarios[0].steps[0].sse.duration: \"0s\" must be greater than zero",
            "invalid-sse-steps.yaml:10:54: plans.p.scenarios[0].steps[0].sse.events: 0 must be greater than zero",
            "invalid-sse-steps.yaml:11:63: plans.p.scenarios[0].steps[1].sse.check.regex: \"([a\" is not a valid regex: unclosed character class",
            "invalid-sse-steps.yaml:11:84: plans.p.scenarios[0].steps[1].sse.check.capture: capture from the event that ends the stream: put it under `until`",
            "invalid-sse-steps.yaml:11:118: plans.p.scenarios[0].steps[1].sse.until.capture.y: a message has no headers; capture with a JSONPath ($.id) or regex:PATTERN",
            "invalid-sse-steps.yaml:12:13: plans.p.scenarios[0].steps[2]: a step has exactly one of `request`, `think`, `ws` or `sse`",
        ]),
        ("invalid-a03-duplicate-key.yaml", &["invalid-a03-duplicate-key.yaml:3:3: duplicate key `t` (first defined at line 2, column 3); each key may appear once in a mapping"]),
        ("invalid-a03-duplicate-scenario.yaml", &["invalid-a03-duplicate-scenario.yaml:11:15: plans.p.scenarios[1].name: duplicate scenario name \"browse\" (first defined on line 8)"]),
        ("invalid-a04-rates.yaml", &[
            "invalid-a04-rates.yaml:9:34: plans.p.load.phases[0].rate: rate 0 must be > 0 and <= limits.max_rps (1000)",
            "invalid-a04-rates.yaml:10:34: plans.p.load.phases[1].rate: rate -5 must be > 0 and <= limits.max_rps (1000)",
            "invalid-a04-rates.yaml:11:34: plans.p.load.phases[2].rate: rate NaN must be > 0 and <= limits.max_rps (1000)",
            "invalid-a04-rates.yaml:12:34: plans.p.load.phases[3].rate: rate 5000 must be > 0 and <= limits.max_rps (1000)",
        ]),
        ("invalid-a04-overflow.yaml", &["invalid-a04-overflow.yaml:9:34: plans.p.load.phases[0].rate: not a finite number (NaN, infinity, or beyond ±1.8e308); write a number such as 50 or 0.5"]),
        ("invalid-a05-durations.yaml", &[
            "invalid-a05-durations.yaml:8:23: plans.p.load.phases[0].duration: \"0s\" must be greater than zero",
            "invalid-a05-durations.yaml:9:23: plans.p.load.phases[1].duration: \"500ms\" is too short; the minimum is 1s",
            "invalid-a05-durations.yaml:10:23: plans.p.load.phases[2].duration: \"-5s\" is not a duration; write e.g. 500ms, 30s, 5m or 1h30m",
            "invalid-a05-durations.yaml:11:23: plans.p.load.phases[3].duration: \"ten seconds\" is not a duration; write e.g. 500ms, 30s, 5m or 1h30m",
        ]),
        // Issue 10 item 6: a duration that overflowed the clock used to validate and then panic
        // the run; a rate so small that nothing is sent used to pass.
        ("invalid-a05-overlong-and-vanishing.yaml", &[
            "invalid-a05-overlong-and-vanishing.yaml:8:23: plans.p.load.phases[0].duration: \"9223372036854775807s\" is too long; the maximum is 3650 days",
            "invalid-a05-overlong-and-vanishing.yaml:9:34: plans.p.load.phases[1].rate: rate 1e-320 is below the minimum of 0.001 per second (one arrival every 1000 s); such a run would send nothing",
            "invalid-a05-overlong-and-vanishing.yaml:16:33: plans.soak.load.rate: rate 1e-7 is below the minimum of 0.001 per second (one arrival every 1000 s); such a run would send nothing",
        ]),
        ("invalid-a06-run-longer-than-period.yaml", &[
            "invalid-a06-run-longer-than-period.yaml:6:24: plans.p.schedule: a run takes 1m but the schedule fires every 30s; set `overlap: forbid | allow | replace` to say what should happen",
        ]),
        ("invalid-a06-timeout-longer-than-period.yaml", &[
            "invalid-a06-timeout-longer-than-period.yaml:6:24: plans.p.schedule: a request may take up to 5m (the target's timeout) but the schedule fires every 1m; lower the timeout or set `overlap: forbid | allow | replace` to say what should happen",
        ]),
        ("invalid-a08-cron-never-fires.yaml", &[
            "invalid-a08-cron-never-fires.yaml:6:23: plans.feb.schedule.cron: \"0 0 30 2 *\" never fires (no date matches it, e.g. February 30); check the day of month and month",
        ]),
        ("invalid-a07-caps.yaml", &[
            "invalid-a07-caps.yaml:7:66: plans.open.load.max_in_flight: 1000 exceeds limits.max_in_flight (500)",
            "invalid-a07-caps.yaml:14:44: plans.closed.load.vus[0].target: 500 VUs exceed limits.max_vus (100)",
        ]),
        ("invalid-a08-cron-and-timezone.yaml", &[
            "invalid-a08-cron-and-timezone.yaml:6:23: plans.bad-minute.schedule.cron: \"61 * * * *\" is not a valid cron expression (Component error: Number out of bounds.); write 5 fields (min hour dom month dow), 6 with leading seconds, or @hourly/@daily/@weekly",
            "invalid-a08-cron-and-timezone.yaml:11:23: plans.too-few-fields.schedule.cron: \"* * *\" is not a valid cron expression (Invalid pattern: Pattern must have 5 or 6 fields when years are disallowed.); write 5 fields (min hour dom month dow), 6 with leading seconds, or @hourly/@daily/@weekly",
            "invalid-a08-cron-and-timezone.yaml:11:42: plans.too-few-fields.schedule.timezone: \"Mars/Olympus\" is not an IANA time zone name, e.g. UTC or Europe/Berlin",
            "invalid-a08-cron-and-timezone.yaml:16:5: plans.both.schedule: set exactly one of `cron` or `every`",
            "invalid-a08-cron-and-timezone.yaml:16:54: plans.both.schedule.overlap: \"sometimes\" must be allow, forbid or replace",
        ]),
        ("invalid-a09-thresholds.yaml", &[
            "invalid-a09-thresholds.yaml:12:34: plans.p.thresholds[0].expr: expression \"p(95) 500ms\" needs an operator: <, <=, >, >= or ==",
            "invalid-a09-thresholds.yaml:13:19: plans.p.thresholds[1].metric: unknown metric \"latncy\"; use latency, ttfb, errors, checks, requests, iterations or dropped, for streams ws_connect, ws_rtt (replies), ws_ping, first_message, message_gap, messages or disconnects, or a name declared in the plan's `metrics`",
            "invalid-a09-thresholds.yaml:14:33: plans.p.thresholds[2].expr: aggregation \"p(95)\" does not apply to this metric; latency, ttfb and the stream durations (ws_connect, ws_rtt, ws_ping, first_message, message_gap) take p(N), avg, min, max or count; errors, checks, requests, iterations, dropped, messages and disconnects take rate or count; host and process figures take avg or max",
            "invalid-a09-thresholds.yaml:15:34: plans.p.thresholds[3].expr: limit \"500\" must be a duration with a unit, e.g. 500ms or 1.5s",
            "invalid-a09-thresholds.yaml:16:19: plans.p.thresholds[4].metric: request \"nope\" is not a request name of this plan",
        ]),
        ("invalid-a11-alias-bomb.yaml", &["invalid-a11-alias-bomb.yaml:19:24: refused: its aliases (`*name`) repeat more YAML than the file's own size allows (total_replayed_events=10001 > 10000); write the repeated block out, or repeat it less"]),
        ("invalid-a12-urls.yaml", &[
            "invalid-a12-urls.yaml:2:25: targets.userinfo.base_url: \"http://admin:pw@127.0.0.1:8080\" must not contain user:password@; put credentials in a header from env",
            "invalid-a12-urls.yaml:3:21: targets.file.base_url: \"file:///etc/passwd\" uses scheme \"file\"; only http and https are allowed",
            "invalid-a12-urls.yaml:4:23: targets.gopher.base_url: \"gopher://127.0.0.1:70\" uses scheme \"gopher\"; only http and https are allowed",
            "invalid-a12-urls.yaml:5:25: targets.noscheme.base_url: \"127.0.0.1:8080\" is not an absolute URL (relative URL without a base); write e.g. http://127.0.0.1:8080",
            "invalid-a12-urls.yaml:6:23: targets.spaces.base_url: \"http://127.0.0.1:8080/a b\" must not contain spaces",
            "invalid-a12-urls.yaml:7:1: plans: no plan is defined; add at least one under `plans:`",
        ]),
        ("invalid-a13-addresses.yaml", &[
            "invalid-a13-addresses.yaml:3:25: targets.metadata.base_url: \"http://169.254.169.254/latest\" is a link-local, unspecified or broadcast address (cloud metadata lives there); it is never a load target",
            "invalid-a13-addresses.yaml:4:23: targets.mapped.base_url: \"http://[::ffff:127.0.0.1]:8080\" is an IPv4-mapped IPv6 address; write the IPv4 address",
            "invalid-a13-addresses.yaml:5:20: targets.hex.base_url: \"http://0x7f000001:8080\" spells its host in a non-canonical form; write 127.0.0.1",
            "invalid-a13-addresses.yaml:6:24: targets.outside.base_url: \"http://10.1.2.3:8080\" host 10.1.2.3 is not in limits.allow_targets (127.0.0.0/8, *.staging.example.com)",
            "invalid-a13-addresses.yaml:8:1: plans: no plan is defined; add at least one under `plans:`",
        ]),
        ("invalid-a14-env.yaml", &[
            "invalid-a14-env.yaml:4:31: targets.t.headers.Authorization: environment variable LOADPACER_TEST_UNSET_TOKEN is not set or empty; export it before loading this file",
            "invalid-a14-env.yaml:5:1: plans: no plan is defined; add at least one under `plans:`",
        ]),
        ("invalid-a15-header-crlf.yaml", &["invalid-a15-header-crlf.yaml:10:60: plans.p.scenarios[0].steps[0].request.headers.X-Evil: header value must not contain CR or LF"]),
        ("invalid-dispatch.yaml", &[
            "invalid-dispatch.yaml:6:63: plans.p.load.dispatch: \"precise\" must be auto, exact or tick",
        ]),
        ("invalid-transport.yaml", &[
            "invalid-transport.yaml:2:57: targets.tls.transport: direct supports plain http/1.1 only; use pooled for https or http2",
            "invalid-transport.yaml:3:56: targets.odd.transport: \"turbo\" must be pooled or direct",
            "invalid-transport.yaml:4:1: plans: no plan is defined; add at least one under `plans:`",
        ]),
        ("invalid-g8-public-listen-without-token.yaml", &[
            "invalid-g8-public-listen-without-token.yaml:1:19: server.listen: 0.0.0.0:9464 is not a loopback address: set server.token_env so the API requires a token",
            "invalid-g8-public-listen-without-token.yaml:2:29: store.retention.runs: 0 must be greater than zero",
            "invalid-g8-public-listen-without-token.yaml:2:41: store.retention.max_age: \"1s\" is too short; the minimum is 1m",
        ]),
        ("invalid-steps.yaml", &[
            "invalid-steps.yaml:5:13: plans.p.target: \"tt\" is not a defined target; did you mean \"t\"?",
            "invalid-steps.yaml:10:38: plans.p.scenarios[0].steps[0].request.url: variable \"order_id\" is not defined here: it must be a CSV column, a setup capture, or captured by an earlier step of the same flow (built-ins: vu, iteration, random_int, random_string, uuid(), iso_timestamp(), env.NAME)",
            "invalid-steps.yaml:11:42: plans.p.scenarios[0].steps[0].check.json.$.items[: \"$.items[\" is not a valid JSONPath (RFC 9535), e.g. $.items[0].id",
            "invalid-steps.yaml:11:64: plans.p.scenarios[0].steps[0].check.body_regex: \"([a-z\" is not a valid regex: unclosed character class",
            "invalid-steps.yaml:12:31: plans.p.scenarios[0].steps[0].capture.token: \"token\" must be a JSONPath ($.token), header:NAME or regex:PATTERN",
            "invalid-steps.yaml:13:20: plans.p.scenarios[0].steps[1].think: \"3s..1s\": the lower bound is above the upper bound",
        ]),
    ];
    let mut on_disk: Vec<String> = std::fs::read_dir(support::fixture("config"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("invalid-"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = table.iter().map(|(n, _)| n.to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "every fixture has a row and every row a fixture"
    );
    let located = regex::Regex::new(r"^[a-z0-9.-]+:\d+:\d+: ").unwrap();
    for (name, expected) in table {
        assert_eq!(&errors_of(name), expected, "messages of {name}");
        for m in expected.iter() {
            assert!(
                located.is_match(m),
                "every message names line and column: {m}"
            );
        }
    }
}

#[test]
fn a11_deep_nesting_and_huge_files_are_refused_fast() {
    let deep = format!("plans: {}{}", "[".repeat(10_000), "]".repeat(10_000));
    let t = Instant::now();
    let err = config::load_str(&deep, "deep.yaml", None, &|_| None).unwrap_err();
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "took {:?}",
        t.elapsed()
    );
    assert!(err.to_string().contains("deep.yaml:"), "{err}");

    let huge = "# padding\n".repeat(5_500_000);
    let err = config::load_str(&huge, "huge.yaml", None, &|_| None).unwrap_err();
    assert!(
        err.to_string().contains("the limit is 4194304 bytes"),
        "{err}"
    );
}

/// Issue 29: the parser's budget stops alias bombs, not plain large files. A config of
/// 10,000 small plans (1.8 MB, no anchors) loads; a small file whose aliases expand
/// past its own size is refused, saying so.
#[test]
fn a11_a_large_plain_config_loads_and_an_expanding_one_is_refused() {
    let mut fleet = String::from(
        "limits: { max_rps: 1000000 }\ntargets: { demo: { base_url: \"http://127.0.0.1:9\" } }\nplans:\n",
    );
    for i in 0..10_000 {
        fleet.push_str(&format!(
            "  probe-{i}: {{ target: demo, schedule: {{ cron: \"{} {} * * *\" }}, load: {{ phases: [{{ duration: 2s, rate: 5 }}] }}, scenarios: [{{ name: s, steps: [{{ request: {{ name: r, url: / }} }}] }}] }}\n",
            i % 60,
            (i / 60) % 24
        ));
    }
    assert!(fleet.len() > 1_500_000, "{}", fleet.len());
    let cfg = config::load_str(&fleet, "fleet.yaml", None, &|_| None).unwrap();
    assert_eq!(cfg.plans.len(), 10_000);
    // 900 aliases of a 400-item list: about 360,000 nodes from 9 KB.
    let mut bomb = String::from("plans:\n  p:\n    variables:\n      one: &a [");
    bomb.push_str(&vec!["1"; 400].join(","));
    bomb.push_str("]\n      all: [");
    bomb.push_str(&vec!["*a"; 900].join(","));
    bomb.push_str("]\n");
    let err = config::load_str(&bomb, "bomb.yaml", None, &|_| None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("bomb.yaml:"), "{err}");
    assert!(
        err.contains(
            "refused: its aliases (`*name`) repeat more YAML than the file's own size allows"
        ),
        "{err}"
    );
}

#[test]
fn a14_secret_values_never_appear_in_errors() {
    let yaml = "targets:\n  t:\n    base_url: \"http://127.0.0.1:1\"\n    headers: { Authorization: \"Bearer {{ env.TOKEN }}\", X-Bad: \"{{ nope( }}\" }\nplans: {}\n";
    let err =
        config::load_str(yaml, "s.yaml", None, &|_| Some("hunter2-secret".into())).unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn every_example_plan_validates() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/examples");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let out = support::loadpacer(&["validate", path.to_str().unwrap()]);
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            n += 1;
        }
    }
    assert!(n >= 7, "expected the seven example plans, found {n}");
}

#[test]
fn validate_prints_every_error_and_exits_2() {
    let out = support::loadpacer(&[
        "validate",
        support::fixture("config/invalid-a05-durations.yaml")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.lines()
            .filter(|l| l.contains("plans.p.load.phases"))
            .count(),
        4,
        "{err}"
    );
    assert!(err.contains("4 error(s)"), "{err}");
}

#[test]
fn a15_nul_and_del_in_header_values_are_rejected_at_load() {
    for (name, escape) in [("nul", "\\0"), ("del", "\\x7f")] {
        let yaml = format!("targets:\n  t: {{ base_url: \"http://127.0.0.1:18080\", headers: {{ X-Bad: \"a{escape}b\" }} }}\nplans:\n  p:\n    target: t\n    load: {{ phases: [{{ duration: 1s, rate: 1 }}] }}\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: r, url: / }} }}] }}]\n");
        let err = config::load_str(&yaml, "h.yaml", None, &|_| None)
            .err()
            .unwrap_or_else(|| panic!("{name} accepted"));
        assert_eq!(
            err.to_string(),
            "h.yaml:2:62: targets.t.headers.X-Bad: header value must not contain control characters (NUL, DEL, …); only tab is allowed",
            "{name}"
        );
    }
}

#[test]
fn body_caps_up_to_1_gib_are_accepted_as_the_message_says() {
    let yaml = "targets:\n  t: { base_url: \"http://127.0.0.1:18080\", max_body: 1GiB }\nplans:\n  p:\n    target: t\n    load: { phases: [{ duration: 1s, rate: 1 }] }\n    scenarios: [{ name: s, steps: [{ request: { name: r, url: / } }] }]\n";
    let cfg = config::load_str(yaml, "b.yaml", None, &|_| None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.plans[0].target.max_body, 1 << 30);
    let err =
        config::load_str(&yaml.replace("1GiB", "2GiB"), "b.yaml", None, &|_| None).unwrap_err();
    assert!(err.to_string().contains("between 1 B and 1 GiB"), "{err}");
}

#[test]
fn a_zero_second_vu_stage_jumps_at_once_while_zero_second_phases_stay_refused() {
    let yaml = "targets:\n  t: { base_url: \"http://127.0.0.1:18080\" }\nplans:\n  p:\n    target: t\n    load: { vus: [{ duration: 0s, target: 50 }, { duration: 5s, target: 50 }] }\n    scenarios: [{ name: s, steps: [{ request: { name: r, url: / } }] }]\n";
    let cfg = config::load_str(yaml, "v.yaml", None, &|_| None).unwrap_or_else(|e| panic!("{e}"));
    match &cfg.plans[0].workloads[0].load.shape {
        config::LoadShape::Closed { stages } => {
            assert_eq!(stages[0].duration, Duration::ZERO);
            assert_eq!(stages[0].target, 50);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn user_count_presets_expand_into_vu_stages_and_validate_shows_them() {
    let yaml = |load: &str| {
        format!("targets: {{ t: {{ base_url: \"http://127.0.0.1:9\" }} }}\nplans:\n  p:\n    target: t\n    load: {load}\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: r, url: / }} }}] }}]\n")
    };
    let cfg = loadpacer::config::load_str(
        &yaml("{ users: heavy, duration: 100s }"),
        "t.yaml",
        None,
        &|_| None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let loadpacer::config::LoadShape::Closed { stages } = &cfg.plans[0].workloads[0].load.shape
    else {
        panic!("users: gives a closed model");
    };
    let got: Vec<(u64, u64)> = stages
        .iter()
        .map(|s| (s.duration.as_secs(), s.target))
        .collect();
    assert_eq!(got, vec![(10, 100), (60, 200), (20, 200), (10, 0)]);
    assert_eq!(
        cfg.plans[0].workloads[0].load.preset.map(|p| p.as_str()),
        Some("heavy")
    );

    // stress climbs to 1,000 VUs, capped by limits.max_vus, and has no plateau.
    let capped = format!(
        "limits: {{ max_vus: 300 }}\n{}",
        yaml("{ users: stress, duration: 100s }")
    );
    let cfg = loadpacer::config::load_str(&capped, "t.yaml", None, &|_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    let loadpacer::config::LoadShape::Closed { stages } = &cfg.plans[0].workloads[0].load.shape
    else {
        panic!()
    };
    assert_eq!(
        stages.iter().map(|s| s.target).collect::<Vec<_>>(),
        vec![200, 300, 0]
    );

    let err = loadpacer::config::load_str(&yaml("{ users: huge }"), "t.yaml", None, &|_| None)
        .unwrap_err();
    assert!(
        err.to_string().contains("t.yaml:5:20: plans.p.load.users: \"huge\" is not a user-count preset; use light, medium, heavy or stress"),
        "{err}"
    );
    let err = loadpacer::config::load_str(
        &yaml("{ users: light, phases: [{ duration: 1s, rate: 1 }] }"),
        "t.yaml",
        None,
        &|_| None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("set exactly one of `phases` (open model), `vus` (closed model), `preset` (a rate shape), `users` (a user-count shape) or `target` with `duration`"), "{err}");

    let (_dir, path) = support::write_config(&yaml("{ users: light }"));
    let out = support::loadpacer(&["validate", path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "preset light: 0→10 VUs in 30s, 10→20 VUs in 3m, 20→20 VUs in 1m, 20→0 VUs in 30s"
        ),
        "{text}"
    );
}

/// Issue 24, item 14: `load: { target: N, duration: D }`, as the reference documents it, is
/// a closed model of N VUs throughout; `target` without `duration` says what is missing.
#[test]
fn a_fixed_number_of_vus_is_target_with_duration() {
    let yaml = |load: &str| {
        format!("targets:\n  t: {{ base_url: \"http://127.0.0.1:9\" }}\nplans:\n  p:\n    target: t\n    load: {load}\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: r, url: / }} }}] }}]\n")
    };
    let cfg = loadpacer::config::load_str(
        &yaml("{ target: 5, duration: 10s }"),
        "f.yaml",
        None,
        &|_| None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let p = &cfg.plans[0];
    assert_eq!(p.duration(), std::time::Duration::from_secs(10));
    match &p.workloads[0].load.shape {
        loadpacer::config::LoadShape::Closed { stages } => {
            assert!(stages.iter().all(|s| s.target == 5), "{stages:?}")
        }
        other => panic!("{other:?}"),
    }
    let err = loadpacer::config::load_str(&yaml("{ target: 5 }"), "f.yaml", None, &|_| None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("plans.p.load.duration: a fixed number of VUs"),
        "{err}"
    );
}

/// Issue 25, item 15: a control character that arrives through `{{ env.NAME }}` in a header
/// is refused at load (it made every request fail as `protocol`), without showing the value.
#[test]
fn control_characters_from_the_environment_in_a_header_are_refused_at_load() {
    let yaml = "targets:\n  t: { base_url: \"http://127.0.0.1:9\", headers: { X-Key: \"k {{ env.KEY }}\" } }\nplans:\n  p:\n    target: t\n    load: { target: 1, duration: 1s }\n    scenarios: [{ name: s, steps: [{ request: { name: r, url: /, headers: { X-Other: \"{{ env.KEY }}\" } } }] }]\n";
    for value in ["se\u{7f}cret", "se\u{0}cret", "se\ncret"] {
        let env = |k: &str| (k == "KEY").then(|| value.to_string());
        let err = loadpacer::config::load_str(yaml, "f.yaml", None, &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("after env substitution"), "{err}");
        assert!(!err.contains("cret"), "the value is never shown: {err}");
    }
    let fine = |k: &str| (k == "KEY").then(|| "a\tb".to_string());
    assert!(loadpacer::config::load_str(yaml, "f.yaml", None, &fine).is_ok());
}
