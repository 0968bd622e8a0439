//! The flow language: plan variables (a list draws per iteration), `random_choice`, `repeat`
//! (a count, a list, a captured array), `if:` and `probability:`, against the demo target.

use crate::support;

use loadpacer::demo::DemoOptions;
use loadpacer::report::summary::Outcome;
use loadpacer::run::RunOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variables_repeats_and_guards_shape_each_iteration() {
    let t = support::demo_target(DemoOptions::default()).await;
    let yaml = format!(
        "targets:\n  t: {{ base_url: \"{}\" }}\nplans:\n  p:\n    target: t\n    load: {{ phases: [{{ duration: 4s, rate: 50 }}] }}\n    variables: {{ user: [ann, bob, cyd], region: eu }}\n    metrics:\n      users: {{ type: counter, help: \"Iterations per drawn user\", label: user }}\n      colours: {{ type: counter, help: \"Draws of random_choice\", label: colour }}\n    scenarios:\n      - name: s\n        steps:\n          - request: {{ name: home, url: \"/?region={{{{ region }}}}&c={{{{ random_choice(red, green) }}}}\" }}\n            record: [{{ metric: users, label: \"{{{{ user }}}}\" }}, {{ metric: colours, label: \"{{{{ random_choice(red, green) }}}}\" }}]\n          - repeat:\n              over: [1, 2, 3]\n              as: page\n              steps:\n                - request: {{ name: page, url: \"/products?page={{{{ page }}}}\" }}\n                  check: {{ status: 200 }}\n          - request: {{ name: list, url: /products }}\n            capture: {{ items: \"$.items\" }}\n          - repeat:\n              over: items\n              as: product\n              steps: [{{ request: {{ name: each, url: /health }} }}]\n          - repeat:\n              count: 2\n              steps: [{{ request: {{ name: twice, url: /health }} }}]\n          - request: {{ name: after_ok, url: /health }}\n            if: status == 200\n          - request: {{ name: missing, url: /nope }}\n            check: {{ status: 404 }}\n          - request: {{ name: after_404, url: /health }}\n            if: status == 200\n          - request: {{ name: sometimes, url: /health }}\n            probability: 0.5\n          - request: {{ name: for_bob, url: /health }}\n            if: user == bob\n",
        t.url()
    );
    let s = support::run_plan(&yaml, None, RunOptions::default()).await;
    assert_eq!(s.totals.errors, 0, "{:?}", s.reasons);
    let n = |name: &str| s.requests.iter().find(|r| r.name == name).unwrap().count;
    let iterations = n("home");
    assert_eq!(iterations, 200, "4 s at 50/s");
    assert_eq!(n("page"), 3 * iterations, "a list of 3");
    assert_eq!(n("each"), 10 * iterations, "each of the 10 captured items");
    assert_eq!(n("twice"), 2 * iterations);
    assert_eq!(n("after_ok"), iterations, "the status was 200");
    assert_eq!(n("after_404"), 0, "the last status was 404");
    let half = n("sometimes");
    assert!((60..=140).contains(&half), "probability 0.5 of 200: {half}");
    // The user is drawn per iteration, evenly; `for_bob` runs exactly for bob's.
    let users = &s
        .custom_metrics
        .iter()
        .find(|m| m.name == "users")
        .unwrap()
        .by_label;
    assert_eq!(users.keys().collect::<Vec<_>>(), ["ann", "bob", "cyd"]);
    for (u, k) in users {
        assert!((30.0..=110.0).contains(k), "{u}: {k} of 200");
    }
    assert_eq!(n("for_bob") as f64, users["bob"]);
    let colours = &s
        .custom_metrics
        .iter()
        .find(|m| m.name == "colours")
        .unwrap()
        .by_label;
    assert_eq!(colours.keys().collect::<Vec<_>>(), ["green", "red"]);
    assert!(
        colours.values().all(|k| (60.0..=140.0).contains(k)),
        "{colours:?}"
    );
    assert_eq!(s.result, Outcome::Passed, "{:?}", s.reasons);
}

#[test]
fn flow_errors_are_located() {
    let yaml = "targets:\n  t: { base_url: \"http://127.0.0.1:9\" }\nplans:\n  p:\n    target: t\n    load: { phases: [{ duration: 1s, rate: 1 }] }\n    variables: { vu: 1, empty: [], ok: [1, 2] }\n    scenarios:\n      - name: s\n        steps:\n          - repeat: { count: 0, steps: [{ request: { name: a, url: / } }] }\n          - repeat: { over: nothing_defines_this, steps: [{ request: { name: b, url: / } }] }\n          - request: { name: c, url: / }\n            if: \"status == 999\"\n          - request: { name: d, url: / }\n            probability: 1.5\n          - request: { name: e, url: / }\n            if: \"who == x\"\n          - repeat: { count: 2, steps: [{ request: { name: c, url: / } }] }\n";
    let err = loadpacer::config::load_str(yaml, "f.yaml", None, &|_| None)
        .unwrap_err()
        .to_string();
    for expected in [
        "plans.p.variables.vu: \"vu\" must be a variable name",
        "plans.p.variables.empty: must be a string, number or boolean, or a non-empty list",
        "plans.p.scenarios[0].steps[0].repeat.count: 0 must be between 1 and 10000",
        "plans.p.scenarios[0].steps[1].repeat.over: variable \"nothing_defines_this\" is not defined here",
        "plans.p.scenarios[0].steps[2].if: \"999\" must be an HTTP status code",
        "plans.p.scenarios[0].steps[3].probability: 1.5 must be a ratio above 0 and at most 1",
        "plans.p.scenarios[0].steps[4].if: variable \"who\" is not defined here",
        "plans.p.scenarios[0].steps[5].repeat.steps[0].request.name: duplicate request name \"c\"",
    ] {
        assert!(err.contains(expected), "{expected}\n---\n{err}");
    }
    assert!(!err.contains("variables.ok"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headerless_csv_with_named_columns_and_its_own_delimiter() {
    let t = support::demo_target(DemoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rows.csv"), "ann;1\nbob;2\ncyd;3\n").unwrap();
    let yaml = format!(
        "targets:\n  t: {{ base_url: \"{}\" }}\nplans:\n  p:\n    target: t\n    load: {{ phases: [{{ duration: 1s, rate: 9 }}] }}\n    data: {{ file: rows.csv, columns: [name, n], delimiter: \";\" }}\n    metrics: {{ names: {{ type: counter, help: \"Rows used\", label: name }} }}\n    scenarios: [{{ name: s, steps: [{{ request: {{ name: home, url: \"/?n={{{{ n }}}}\" }}, record: [{{ metric: names, label: \"{{{{ name }}}}\" }}] }}] }}]\n",
        t.url()
    );
    let s = support::run_plan(&yaml, Some(dir.path()), RunOptions::default()).await;
    let names = &s.custom_metrics[0].by_label;
    // Rows in turn: each of the three names three times.
    assert_eq!(
        names
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect::<Vec<_>>(),
        [("ann", 3.0), ("bob", 3.0), ("cyd", 3.0)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_vus_forget_what_an_earlier_iteration_captured() {
    let t = support::demo_target(DemoOptions::default()).await;
    // `who` is read before the step that captures it: empty (counted as "unknown") unless an
    // earlier iteration of the same VU captured it.
    let plan = |fresh: bool| {
        format!(
            "targets:\n  t: {{ base_url: \"{}\" }}\nplans:\n  p:\n    target: t\n    fresh_vus: {fresh}\n    undefined_variables: empty\n    load: {{ vus: [{{ duration: 1s, target: 2 }}, {{ duration: 1s, target: 2 }}] }}\n    metrics: {{ seen: {{ type: counter, help: \"What the VU remembered\", label: who }} }}\n    scenarios:\n      - name: s\n        steps:\n          - request: {{ name: home, url: / }}\n            record: [{{ metric: seen, label: \"{{{{ who }}}}\" }}]\n          - request: {{ name: login, method: POST, url: /auth/login, json: {{ user: a }} }}\n            capture: {{ who: \"$.token\" }}\n          - think: 50ms\n",
            t.url()
        )
    };
    let fresh = support::run_plan(&plan(true), None, RunOptions::default()).await;
    let seen = &fresh.custom_metrics[0].by_label;
    assert_eq!(seen.keys().collect::<Vec<_>>(), ["unknown"], "{seen:?}");
    let kept = support::run_plan(&plan(false), None, RunOptions::default()).await;
    let seen = &kept.custom_metrics[0].by_label;
    assert!(seen.keys().any(|k| k.starts_with("tok-")), "{seen:?}");
    // Undefined is a warning here, not an error.
    let cfg = loadpacer::config::load_str(&plan(true), "w.yaml", None, &|_| None).unwrap();
    assert!(
        cfg.warnings[0]
            .to_string()
            .contains("variable \"who\" is not defined here; it renders empty"),
        "{:?}",
        cfg.warnings
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_uploaded_as_multipart_with_their_form_fields() {
    let t = support::demo_target(DemoOptions::default()).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("report.csv"), "a,b\n1,2\n").unwrap();
    let yaml = format!(
        "targets:\n  t: {{ base_url: \"{}\" }}\nplans:\n  p:\n    target: t\n    load: {{ phases: [{{ duration: 1s, rate: 5 }}] }}\n    variables: {{ title: [q1, q2] }}\n    scenarios:\n      - name: s\n        steps:\n          - request: {{ name: upload, method: POST, url: /upload, form: {{ title: \"{{{{ title }}}}\", kind: csv }}, files: {{ doc: report.csv }} }}\n            check: {{ json: {{ \"$.multipart\": true, \"$.files\": 1, \"$.fields\": 2 }} }}\n",
        t.url()
    );
    let s = support::run_plan(&yaml, Some(dir.path()), RunOptions::default()).await;
    assert_eq!(s.totals.requests, 5);
    assert_eq!(s.totals.checks_failed, 0, "{:?}", s.requests[0].checks);
    assert_eq!(s.result, Outcome::Passed, "{:?}", s.reasons);
    let missing = yaml.replace("report.csv", "nope.csv");
    let err = loadpacer::config::load_str(&missing, "u.yaml", Some(dir.path()), &|_| None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("request.files.doc: cannot read"), "{err}");
}
