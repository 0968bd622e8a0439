//! The shape of the code, checked from its sources: the pipeline stages depend downstream
//! only, and no folder's modules import each other in a cycle. Run with `--nocapture` to
//! print the import graph (the closing note of the reshaping issue quotes it).

use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module's path (`config::steps::checks`) and its source.
struct Module {
    path: Vec<String>,
    text: String,
}

fn modules() -> Vec<Module> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let comment = Regex::new(r"(?m)^\s*//.*$").unwrap();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p: PathBuf = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(&root).unwrap().with_extension("");
                let mut path: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if path.first().is_some_and(|f| f == "main" || f == "cli") {
                    continue; // the binary, above every stage
                }
                if path.last().is_some_and(|l| l == "mod" || l == "lib") {
                    path.pop();
                }
                let text = std::fs::read_to_string(&p).unwrap();
                // Comments (doc links included) are not imports.
                let text = comment.replace_all(&text, "");
                // Test modules may reach anywhere.
                let text = match text.find("#[cfg(test)]\nmod tests") {
                    Some(i) => text[..i].to_string(),
                    None => text.into_owned(),
                };
                out.push(Module { path, text });
            }
        }
    }
    out
}

/// The paths a module names: `super::a::b`, `crate::a::b`, including inside `use` groups.
fn named_paths(text: &str) -> Vec<(bool, Vec<String>)> {
    let mut out = Vec::new();
    let group = Regex::new(r"\b(super|crate)((?:::\w+)*)::\{([^}]*)\}").unwrap();
    for c in group.captures_iter(text) {
        for item in c[3].split(',') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let full = format!("{}::{}", &c[2], item);
            out.push((&c[1] == "super", split(&full)));
        }
    }
    let plain = Regex::new(r"\b(super|crate)((?:::\w+)+)").unwrap();
    for c in plain.captures_iter(text) {
        out.push((&c[1] == "super", split(&c[2])));
    }
    out
}

fn split(p: &str) -> Vec<String> {
    p.split("::")
        .map(|s| s.split_whitespace().next().unwrap_or("").to_string())
        .filter(|s| !s.is_empty() && s != "self")
        .collect()
}

/// The module a path leads to: its longest prefix that is a module, following a parent's
/// `pub use child::Name` re-exports one level.
fn resolve(
    known: &BTreeSet<Vec<String>>,
    reexports: &BTreeMap<(Vec<String>, String), String>,
    base: Vec<String>,
    rest: &[String],
) -> Vec<String> {
    let mut at = base;
    for seg in rest {
        let mut next = at.clone();
        next.push(seg.clone());
        if known.contains(&next) {
            at = next;
        } else if let Some(child) = reexports.get(&(at.clone(), seg.clone())) {
            at.push(child.clone());
            break;
        } else {
            break;
        }
    }
    at
}

fn graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mods = modules();
    let known: BTreeSet<Vec<String>> = mods.iter().map(|m| m.path.clone()).collect();
    let reexport = Regex::new(r"pub(?:\([^)]*\))? use (\w+)::\{?([^;]*?)\}?;").unwrap();
    let mut reexports = BTreeMap::new();
    for m in &mods {
        for c in reexport.captures_iter(&m.text) {
            let mut child = m.path.clone();
            child.push(c[1].to_string());
            if !known.contains(&child) {
                continue;
            }
            for name in c[2].split(',') {
                let name = name.trim().to_string();
                if !name.is_empty() {
                    reexports.insert((m.path.clone(), name), c[1].to_string());
                }
            }
        }
    }
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for m in &mods {
        let entry = edges.entry(m.path.clone()).or_default();
        for (is_super, rest) in named_paths(&m.text) {
            let base = if is_super {
                m.path[..m.path.len().saturating_sub(1)].to_vec()
            } else {
                Vec::new()
            };
            let (base, rest) = if is_super && rest.first().is_some_and(|s| s == "super") {
                (base[..base.len().saturating_sub(1)].to_vec(), &rest[1..])
            } else {
                (base, &rest[..])
            };
            let to = resolve(&known, &reexports, base, rest);
            if to != m.path && !to.is_empty() {
                entry.insert(to);
            }
        }
    }
    edges
}

/// Cycles among the modules of one folder (a module and its siblings; the folder's own
/// `mod.rs`, which declares and re-exports them, is left out).
fn sibling_cycles(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<String> {
    let mut found = Vec::new();
    let parents: BTreeSet<Vec<String>> = edges
        .keys()
        .filter(|p| !p.is_empty())
        .map(|p| p[..p.len() - 1].to_vec())
        .collect();
    for parent in parents {
        let kids: Vec<&Vec<String>> = edges
            .keys()
            .filter(|k| k.len() == parent.len() + 1 && k.starts_with(&parent))
            .collect();
        // Collapse each edge to the sibling it lands in.
        let sib = |to: &Vec<String>| -> Option<String> {
            (to.len() > parent.len() && to.starts_with(&parent)).then(|| to[parent.len()].clone())
        };
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for k in &kids {
            let me = k[parent.len()].clone();
            let outs = g.entry(me.clone()).or_default();
            for (from, tos) in edges {
                if from.starts_with(k) {
                    for t in tos.iter().filter_map(sib) {
                        if t != me {
                            outs.insert(t);
                        }
                    }
                }
            }
        }
        // Depth-first search for a back edge.
        fn visit(
            n: &str,
            g: &BTreeMap<String, BTreeSet<String>>,
            state: &mut BTreeMap<String, u8>,
            trail: &mut Vec<String>,
            found: &mut Vec<String>,
        ) {
            state.insert(n.to_string(), 1);
            trail.push(n.to_string());
            for m in g.get(n).into_iter().flatten() {
                match state.get(m).copied().unwrap_or(0) {
                    0 => visit(m, g, state, trail, found),
                    1 => found.push(format!("{} -> {m}", trail.join(" -> "))),
                    _ => {}
                }
            }
            trail.pop();
            state.insert(n.to_string(), 2);
        }
        let mut state = BTreeMap::new();
        for n in g.keys() {
            if state.get(n).copied().unwrap_or(0) == 0 {
                let mut local = Vec::new();
                visit(n, &g, &mut state, &mut Vec::new(), &mut local);
                let prefix = parent.join("::");
                found.extend(local.into_iter().map(|c| format!("in {prefix}/: {c}")));
            }
        }
    }
    found
}

/// The pipeline's stages, upstream first. A stage may import only stages before it.
/// `script` (the JavaScript runtime of k6 scripts and Artillery processors) has its place
/// before the engine lands: after `measure`, before `config` (docs/architecture.md).
const STAGES: &[&str] = &[
    "sync", "files", "measure", "script", "config", "host", "run", "judge", "report", "session",
    "metrics", "store", "schedule", "demo", "app", "api",
];

/// Modules outside the pipeline: the crate roots and the binary's commands.
const NOT_STAGES: &[&str] = &["lib", "main", "cli"];

#[test]
fn every_folder_of_src_is_a_stage() {
    let unplaced: BTreeSet<String> = modules()
        .iter()
        .filter_map(|m| m.path.first().cloned())
        .filter(|top| !STAGES.contains(&top.as_str()) && !NOT_STAGES.contains(&top.as_str()))
        .collect();
    assert!(
        unplaced.is_empty(),
        "{unplaced:?} are not stages: give each its place in STAGES and in docs/architecture.md"
    );
}

#[test]
fn stages_depend_downstream_only_and_no_folder_has_an_import_cycle() {
    let edges = graph();
    let mut problems = sibling_cycles(&edges);
    let rank = |m: &Vec<String>| {
        STAGES
            .iter()
            .position(|s| m.first().is_some_and(|f| f == s))
    };
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, tos) in &edges {
        for to in tos {
            let (Some(a), Some(b)) = (rank(from), rank(to)) else {
                continue;
            };
            if a != b {
                top.entry(STAGES[a].to_string())
                    .or_default()
                    .insert(STAGES[b].to_string());
            }
            if b > a {
                problems.push(format!(
                    "{} imports {}, a later stage",
                    from.join("::"),
                    to.join("::")
                ));
            }
        }
    }
    for stage in STAGES {
        let deps: Vec<_> = top.get(*stage).into_iter().flatten().cloned().collect();
        println!("{stage:>9} -> {}", deps.join(", "));
    }
    for (from, tos) in edges.iter().filter(|(f, _)| f.len() > 1) {
        let local: Vec<String> = tos
            .iter()
            .filter(|t| t.len() > 1 && t[0] == from[0])
            .map(|t| t.join("::"))
            .collect();
        if !local.is_empty() {
            println!("  {} -> {}", from.join("::"), local.join(", "));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checker_finds_a_cycle_and_an_upward_import() {
    // The test above cannot pass vacuously: the same functions see a planted cycle.
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let m = |s: &str| s.split("::").map(String::from).collect::<Vec<_>>();
    edges
        .entry(m("config::a"))
        .or_default()
        .insert(m("config::b"));
    edges
        .entry(m("config::b"))
        .or_default()
        .insert(m("config::a"));
    edges.entry(m("config::c")).or_default();
    let cycles = sibling_cycles(&edges);
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(cycles[0].contains("a -> b -> a"), "{cycles:?}");
    let paths = named_paths("use super::{rules::duration, raw::S};\nlet x = crate::run::http::x;");
    assert!(paths.contains(&(true, m("rules::duration"))), "{paths:?}");
    assert!(paths.contains(&(false, m("run::http::x"))), "{paths:?}");
}

#[test]
fn every_requirement_id_in_a_test_name_is_explained_in_the_docs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/requirements.md")).unwrap();
    let name = Regex::new(r"fn ([a-g])0?(\d+)_\w+").unwrap();
    let mut ids = BTreeSet::new();
    for dir in ["tests", "src"] {
        let mut stack = vec![root.join(dir)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    let text = std::fs::read_to_string(&p).unwrap();
                    for c in name.captures_iter(&text) {
                        ids.insert(format!("{}{}", c[1].to_uppercase(), &c[2]));
                    }
                }
            }
        }
    }
    assert!(ids.len() > 20, "{ids:?}");
    let missing: Vec<_> = ids
        .iter()
        .filter(|id| !doc.contains(&format!("| {id} |")))
        .collect();
    assert!(
        missing.is_empty(),
        "ids used in test names but not in docs/requirements.md: {missing:?}"
    );
}
