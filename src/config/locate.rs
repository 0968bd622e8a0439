//! Finds where a field path (`plans.p.load.vus`, `plans.p.scenarios[0].steps[1]`) is written,
//! for the rules that are checked on a whole block and so have no leaf to point at. The file
//! is parsed once more into a bare tree of keys with their locations; this only happens when
//! there are errors to report.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

/// A YAML node reduced to its structure, every key and item with its location.
enum Node {
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    Leaf,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any YAML node")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = m.next_entry()? {
                    entries.push(entry);
                }
                Ok(Node::Map(entries))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = s.next_element()? {
                    items.push(item);
                }
                Ok(Node::Seq(items))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_str<E>(self, _: &str) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_none<E>(self) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
        }
        d.deserialize_any(V)
    }
}

/// The structure of a config text, for locating paths; `None` when it does not parse.
pub(super) struct Locator(Spanned<Node>);

impl Locator {
    /// Reads the structure of `text` with the budgets of `options`; numbers the config parser
    /// rejects (NaN, infinities, overflowing decimals) are read, not refused, since the
    /// locator is asked about exactly those places.
    pub(super) fn new(text: &str, mut options: serde_saphyr::Options) -> Option<Self> {
        options.non_finite_float_policy = serde_saphyr::NonFiniteFloatPolicy::PassThrough;
        serde_saphyr::from_str_with_options(text, options)
            .ok()
            .map(Locator)
    }

    /// The location of the deepest part of `path` that exists in the file: the key of a
    /// mapping entry or the start of a list item.
    pub(super) fn find(&self, path: &str) -> Option<Location> {
        let mut node = &self.0.value;
        let mut rest = path;
        let mut found = None;
        while !rest.is_empty() {
            match node {
                Node::Map(entries) => {
                    // The longest key that the path continues from (names may hold dots).
                    let Some((key, value)) = entries
                        .iter()
                        .filter(|(k, _)| {
                            rest == k.value
                                || rest
                                    .strip_prefix(k.value.as_str())
                                    .is_some_and(|r| r.starts_with('.') || r.starts_with('['))
                        })
                        .max_by_key(|(k, _)| k.value.len())
                    else {
                        break;
                    };
                    found = Some(key.referenced);
                    rest = rest[key.value.len()..].trim_start_matches('.');
                    node = &value.value;
                }
                Node::Seq(items) => {
                    let Some(item_at) = rest
                        .strip_prefix('[')
                        .and_then(|inner| inner.split_once(']'))
                        .and_then(|(index, after)| {
                            Some((items.get(index.parse::<usize>().ok()?)?, after))
                        })
                    else {
                        break;
                    };
                    let (item, after) = item_at;
                    found = Some(item.referenced);
                    rest = after.trim_start_matches('.');
                    node = &item.value;
                }
                Node::Leaf => break,
            }
        }
        found
    }
}

impl Locator {
    /// The field path of the value written at `at` (a scalar serde rejected, say), if one
    /// starts there: `plans.p.load.phases[0].rate`.
    pub(super) fn path_at(&self, line: u64, column: u64) -> Option<String> {
        let at = (line, column);
        let starts_here = |l: &Location| (l.line(), l.column()) == at;
        fn walk(node: &Node, starts_here: &dyn Fn(&Location) -> bool, path: &mut String) -> bool {
            match node {
                Node::Map(entries) => entries.iter().any(|(k, v)| {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(&k.value);
                    if starts_here(&v.referenced) || walk(&v.value, starts_here, path) {
                        return true;
                    }
                    path.truncate(len);
                    false
                }),
                Node::Seq(items) => items.iter().enumerate().any(|(i, v)| {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    if starts_here(&v.referenced) || walk(&v.value, starts_here, path) {
                        return true;
                    }
                    path.truncate(len);
                    false
                }),
                Node::Leaf => false,
            }
        }
        let mut path = String::new();
        walk(&self.0.value, &starts_here, &mut path).then_some(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_block_and_flow_paths_and_names_with_dots() {
        let text = "plans:\n  my.plan:\n    load: { vus: [] }\n    scenarios:\n      - name: s\n        steps:\n          - {}\n";
        let l = Locator::new(text, serde_saphyr::Options::default()).unwrap();
        let at = |p: &str| l.find(p).map(|loc| (loc.line(), loc.column()));
        assert_eq!(at("plans.my.plan.load.vus"), Some((3, 13)));
        assert_eq!(at("plans.my.plan.scenarios[0].steps[0]"), Some((7, 13)));
        assert_eq!(at("plans.my.plan"), Some((2, 3)));
        // The deepest part that exists.
        assert_eq!(at("plans.my.plan.load.phases"), Some((3, 5)));
        assert_eq!(at("nowhere.at.all"), None);
    }

    #[test]
    fn names_the_path_of_a_value_by_its_location() {
        let text =
            "plans:\n  p:\n    load:\n      phases:\n        - { duration: 10s, rate: 1e309 }\n";
        let l = Locator::new(text, serde_saphyr::Options::default()).unwrap();
        let rate = l.find("plans.p.load.phases[0].rate").unwrap();
        assert_eq!(rate.line(), 5);
        // Where the config parser reports the value it rejected.
        assert_eq!(
            l.path_at(5, 34).as_deref(),
            Some("plans.p.load.phases[0].rate")
        );
        assert_eq!(l.path_at(5, 35), None, "only where a value starts");
    }
}
