//! docs/api.md against the API's own types (issue 26, item 3): every JSON example on the page
//! parses into the type the daemon writes, and names every field that type has.

use loadpacer::api::types::{
    Cancelling, ErrorBody, PlanList, Reloaded, RunPage, SegmentAnswer, Started,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;

/// The example parses as `T`, and `T` written back has exactly the example's fields (nested
/// objects and the first element of arrays too).
fn check<T: DeserializeOwned + Serialize>(section: &str, example: &str) {
    let doc: Value = serde_json::from_str(example)
        .unwrap_or_else(|e| panic!("{section}: the example is not JSON ({e}): {example}"));
    let typed: T = serde_json::from_value(doc.clone()).unwrap_or_else(|e| {
        panic!("{section}: the example is not the API's answer ({e}): {example}")
    });
    let back = serde_json::to_value(&typed).unwrap();
    same_fields(section, "", &doc, &back);
}

fn same_fields(section: &str, at: &str, doc: &Value, typed: &Value) {
    match (doc, typed) {
        (Value::Object(d), Value::Object(t)) => {
            let dk: BTreeSet<&String> = d.keys().collect();
            let tk: BTreeSet<&String> = t.keys().collect();
            assert_eq!(
                dk, tk,
                "{section}: the fields of {at:?} differ from the type's"
            );
            for k in dk {
                same_fields(section, &format!("{at}.{k}"), &d[k], &t[k]);
            }
        }
        (Value::Array(d), Value::Array(t)) if !d.is_empty() => {
            same_fields(section, &format!("{at}[0]"), &d[0], &t[0]);
        }
        _ => {}
    }
}

#[test]
fn every_example_in_the_api_docs_is_an_answer_of_its_type() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("docs/api.md")).unwrap();
    let mut checked = BTreeSet::new();
    let mut section = String::new();
    let mut block: Option<String> = None;
    let inline = regex::Regex::new(r"`(\d{3}) (\{[^`]*\})`").unwrap();
    for line in text.lines() {
        if let Some(b) = block.as_mut() {
            if line.starts_with("```") {
                let json = block.take().unwrap();
                match section.as_str() {
                    "GET /api/v1/plans" => check::<PlanList>(&section, &json),
                    "GET /api/v1/runs" => check::<RunPage>(&section, &json),
                    other => panic!("a JSON example under {other:?} has no type here"),
                }
                checked.insert(section.clone());
            } else {
                b.push_str(line);
                b.push('\n');
            }
            continue;
        }
        if let Some(h) = line.strip_prefix("## ") {
            section = h.to_string();
        } else if line.starts_with("```json") {
            block = Some(String::new());
        }
        for c in inline.captures_iter(line) {
            let (status, json) = (&c[1], &c[2]);
            let key = format!("{section} {status}");
            match section.as_str() {
                _ if json.starts_with("{\"error\"") => check::<ErrorBody>(&key, json),
                s if s.ends_with("/trigger") => check::<Started>(&key, json),
                s if s.contains("/segments/") => check::<SegmentAnswer>(&key, json),
                s if s.ends_with("/cancel") => check::<Cancelling>(&key, json),
                "POST /-/reload" => check::<Reloaded>(&key, json),
                other => panic!("an answer under {other:?} has no type here: {json}"),
            }
            checked.insert(key);
        }
    }
    let expected = [
        "GET /api/v1/plans",
        "GET /api/v1/runs",
        "POST /api/v1/plans/{name}/trigger 202",
        "POST /api/v1/plans/{name}/segments/{key} 201",
        "POST /api/v1/plans/{name}/segments/{key} 202",
        "POST /api/v1/runs/{id}/cancel 202",
        "POST /-/reload 200",
    ];
    for e in expected {
        assert!(
            checked.contains(e),
            "no example checked for {e}: {checked:?}"
        );
    }
}
