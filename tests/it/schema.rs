//! The config file's JSON Schema and field reference: generated from the loader's own types,
//! committed, and checked against the examples with a real JSON Schema validator
//! (check-jsonschema, installed by scripts/test.sh).

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn loadpacer(args: &[&str]) -> String {
    let out = support::loadpacer(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn examples() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("config/examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.push(root().join("config/demo-daemon.yaml"));
    files.sort();
    files
}

fn check_jsonschema(files: &[PathBuf]) -> std::process::Output {
    Command::new("check-jsonschema")
        .arg("--schemafile")
        .arg(root().join("schemas/config.v1.json"))
        .args(files)
        .output()
        .expect("check-jsonschema is required (scripts/test.sh installs it with pip)")
}

#[test]
fn the_committed_schema_and_reference_are_what_the_code_generates() {
    let committed = std::fs::read_to_string(root().join("schemas/config.v1.json")).unwrap();
    assert!(
        committed == loadpacer(&["schema"]),
        "schemas/config.v1.json is stale: run `cargo run -- schema > schemas/config.v1.json`"
    );
    let page = std::fs::read_to_string(root().join("docs/config-reference.md")).unwrap();
    assert!(
        page == loadpacer(&["schema", "--markdown"]),
        "docs/config-reference.md is stale: run `cargo run -- schema --markdown > docs/config-reference.md`"
    );
}

#[test]
fn every_example_validates_against_the_schema_and_names_it_for_editors() {
    let files = examples();
    assert!(files.len() >= 5, "{files:?}");
    let out = check_jsonschema(&files);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for f in &files {
        let first = std::fs::read_to_string(f).unwrap();
        let first = first.lines().next().unwrap_or("");
        let rel = first
            .strip_prefix("# yaml-language-server: $schema=")
            .unwrap_or_else(|| {
                panic!("{} does not name the schema on its first line", f.display())
            });
        assert!(
            f.parent().unwrap().join(rel).canonicalize().unwrap()
                == root()
                    .join("schemas/config.v1.json")
                    .canonicalize()
                    .unwrap(),
            "{}: {rel} is not schemas/config.v1.json",
            f.display()
        );
    }
}

#[test]
fn the_schema_refuses_a_misspelt_field_and_a_wrong_type() {
    let dir = tempfile::tempdir().unwrap();
    let misspelt = root().join("tests/fixtures/config/invalid-a02-unknown-field.yaml");
    let wrong_type = dir.path().join("wrong-type.yaml");
    std::fs::write(
        &wrong_type,
        "targets: { t: { base_url: \"http://127.0.0.1:9\" } }\nplans:\n  p:\n    target: t\n    load: { phases: [{ duration: 1s, rate: fast }] }\n    scenarios: [{ name: s, steps: [{ request: { name: r, url: / } }] }]\n",
    )
    .unwrap();
    for f in [misspelt, wrong_type] {
        let out = check_jsonschema(std::slice::from_ref(&f));
        assert!(!out.status.success(), "{} passed the schema", f.display());
    }
}

/// `pub NAME:` fields of the `Raw*` structs in the files of config/raw/, as (struct, field).
fn raw_fields(raw: &Path) -> Vec<(String, String)> {
    let mut text = String::new();
    for e in std::fs::read_dir(raw).unwrap() {
        text.push_str(&std::fs::read_to_string(e.unwrap().path()).unwrap());
    }
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("pub struct Raw") {
            current = Some(format!(
                "Raw{}",
                rest.split([' ', '{', '<']).next().unwrap()
            ));
        } else if line == "}" {
            current = None;
        } else if let (Some(s), Some(rest)) = (&current, line.strip_prefix("    pub ")) {
            if let Some((name, _)) = rest.split_once(':') {
                out.push((s.clone(), name.trim_start_matches("r#").to_string()));
            }
        }
    }
    out
}

#[test]
fn every_raw_field_is_in_the_schema_with_a_description_and_on_the_reference_page() {
    let schema: serde_json::Value = serde_json::from_str(&loadpacer(&["schema"])).unwrap();
    let page = loadpacer(&["schema", "--markdown"]);
    let fields = raw_fields(&root().join("src/config/raw"));
    assert!(fields.len() > 80, "{}", fields.len());
    for (s, f) in &fields {
        let props = if s == "RawConfig" {
            &schema["properties"]
        } else {
            &schema["$defs"][s]["properties"]
        };
        let desc = props[f]["description"].as_str().unwrap_or("");
        assert!(!desc.is_empty(), "{s}.{f} has no description in the schema");
        assert!(
            page.contains(&format!("| `{f}` |")),
            "{s}.{f} is not on the reference page"
        );
    }
}
