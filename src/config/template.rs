//! `{{ ... }}` templates, compiled once at load time and rendered per request.
//!
//! A template is a list of literal and dynamic parts. Rendering is a single pass: a value
//! that itself contains `{{ }}` is inserted as text and never expanded again, so template
//! recursion cannot happen. `env.NAME` is resolved at load time; its value is remembered as
//! a secret so that it can be redacted from everything loadpacer writes.

use rand::Rng;
use std::fmt::Write;

/// The variables a template can read while rendering.
pub trait Vars {
    /// A captured value, CSV column or setup capture.
    fn get(&self, name: &str) -> Option<&str>;
    /// The virtual user number (1-based).
    fn vu(&self) -> u64;
    /// The iteration number of this VU (0-based).
    fn iteration(&self) -> u64;
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Var(String),
    /// `name.a.0.b`: a field of a variable holding JSON (a list's item by its index).
    Field(String, Vec<String>),
    /// `raw(name)`: a variable inserted into a URL as it is (a captured link, an already
    /// encoded value); elsewhere the same as a variable.
    Raw(String),
    Vu,
    Iteration,
    RandomInt(i64, i64),
    RandomString(usize),
    /// One of the values, drawn each time.
    RandomChoice(Vec<String>),
    Uuid,
    IsoTimestamp,
    /// Milliseconds since the Unix epoch, when rendered.
    UnixMillis,
}

/// A compiled template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

/// What compiling a template found besides the parts.
#[derive(Debug, Default)]
pub struct Compiled {
    /// Names of variables the template reads.
    pub vars: Vec<String>,
    /// Values of `env.NAME` references, to be redacted.
    pub secrets: Vec<String>,
}

impl Template {
    /// Compiles `text`, resolving `env.NAME` through `env`. Errors name the rule broken and
    /// never show an environment value.
    pub fn compile(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
        found: &mut Compiled,
    ) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Lit(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| format!("template {text:?} has `{{{{` without a closing `}}}}`"))?;
            parts.push(compile_expr(after[..close].trim(), env, found)?);
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        // Join neighbouring literals (an env value next to text) so static templates are one part.
        let mut joined: Vec<Part> = Vec::with_capacity(parts.len());
        for p in parts {
            match (joined.last_mut(), p) {
                (Some(Part::Lit(a)), Part::Lit(b)) => a.push_str(&b),
                (_, p) => joined.push(p),
            }
        }
        Ok(Template { parts: joined })
    }

    /// A template that is just this text.
    pub fn literal(text: impl Into<String>) -> Template {
        Template {
            parts: vec![Part::Lit(text.into())],
        }
    }

    /// When the template is exactly one variable (`"{{ id }}"`), its name.
    pub fn as_single_var(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [Part::Var(name)] => Some(name),
            _ => None,
        }
    }

    /// True when the template is exactly one expression whose value is a number
    /// (`{{ vu }}`, `{{ iteration }}`, `{{ random_int(a, b) }}`, `{{ unix_millis() }}`): in a
    /// JSON body it stays one.
    pub fn is_single_number(&self) -> bool {
        matches!(
            self.parts.as_slice(),
            [Part::Vu | Part::Iteration | Part::RandomInt(..) | Part::UnixMillis]
        )
    }

    /// The text when the template has no dynamic part.
    pub fn as_static(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Lit(s)] => Some(s),
            _ => None,
        }
    }

    /// Renders into `out`. An unknown variable renders as empty text (its existence was checked
    /// at load time; a capture that did not match is reported by the capture itself).
    pub fn render_into(&self, vars: &dyn Vars, out: &mut String) {
        self.render_parts(vars, out, false);
    }

    /// Renders a URL: variables' values are percent-encoded (a `#` in a value no longer cuts
    /// the URL, an `&` no longer adds parameters), `raw(name)` inserts a value as it is, and
    /// the template's own text is left as written. A variable that starts the URL is its base
    /// (a captured link, `{{ next }}?page=2`) and is inserted as it is too.
    pub fn render_url(&self, vars: &dyn Vars) -> String {
        let mut s = String::new();
        self.render_parts(vars, &mut s, true);
        s
    }

    fn render_parts(&self, vars: &dyn Vars, out: &mut String, url: bool) {
        let mut rng = rand::rng();
        for (i, part) in self.parts.iter().enumerate() {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Var(name) if url && i > 0 => {
                    encode_url_value(vars.get(name).unwrap_or(""), out)
                }
                Part::Var(name) | Part::Raw(name) => out.push_str(vars.get(name).unwrap_or("")),
                Part::Field(name, path) if url && i > 0 => {
                    encode_url_value(&field(vars.get(name), path), out)
                }
                Part::Field(name, path) => out.push_str(&field(vars.get(name), path)),
                Part::Vu => {
                    let _ = write!(out, "{}", vars.vu());
                }
                Part::Iteration => {
                    let _ = write!(out, "{}", vars.iteration());
                }
                Part::RandomInt(a, b) => {
                    let _ = write!(out, "{}", rng.random_range(*a..=*b));
                }
                Part::RandomString(n) => {
                    out.extend((0..*n).map(|_| rng.sample(rand::distr::Alphanumeric) as char))
                }
                Part::RandomChoice(values) => {
                    out.push_str(&values[rng.random_range(0..values.len())]);
                }
                Part::Uuid => {
                    let _ = write!(out, "{}", uuid::Uuid::new_v4());
                }
                Part::UnixMillis => {
                    let ms = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis());
                    let _ = write!(out, "{ms}");
                }
                Part::IsoTimestamp => {
                    let _ = write!(
                        out,
                        "{}",
                        humantime::format_rfc3339_millis(std::time::SystemTime::now())
                    );
                }
            }
        }
    }

    /// Renders into a new string.
    pub fn render(&self, vars: &dyn Vars) -> String {
        let mut s = String::new();
        self.render_into(vars, &mut s);
        s
    }
}

/// Appends `value` with every byte percent-encoded except those a URL path or query value
/// may hold as they are: letters, digits, `-._~`, and `/:@!$'()*,;` (so `a/b` stays a path).
fn encode_url_value(value: &str, out: &mut String) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:@!$'()*,;".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

fn compile_expr(
    expr: &str,
    env: &dyn Fn(&str) -> Option<String>,
    found: &mut Compiled,
) -> Result<Part, String> {
    if let Some(name) = expr.strip_prefix("env.") {
        return match env(name) {
            Some(v) if !v.is_empty() => {
                found.secrets.push(v.clone());
                Ok(Part::Lit(v))
            }
            _ => Err(format!(
                "environment variable {name} is not set or empty; export it before loading this file"
            )),
        };
    }
    match expr {
        "vu" => return Ok(Part::Vu),
        "iteration" => return Ok(Part::Iteration),
        "uuid()" => return Ok(Part::Uuid),
        "iso_timestamp()" => return Ok(Part::IsoTimestamp),
        "unix_millis()" => return Ok(Part::UnixMillis),
        _ => {}
    }
    if let Some(part) = random_call(expr) {
        return part;
    }
    if let Some(args) = call_args(expr, "raw") {
        return match args.as_slice() {
            [name] if !name.is_empty() => {
                found.vars.push(name.to_string());
                Ok(Part::Raw(name.to_string()))
            }
            _ => Err(format!("raw(name) takes one variable name, got {expr:?}")),
        };
    }
    let ident = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    let mut segments = expr.split('.');
    let name = segments.next().unwrap_or_default();
    let path: Vec<String> = segments.map(str::to_string).collect();
    if ident(name)
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && path.iter().all(|p| ident(p))
    {
        found.vars.push(name.to_string());
        return Ok(if path.is_empty() {
            Part::Var(name.to_string())
        } else {
            Part::Field(name.to_string(), path)
        });
    }
    Err(format!(
        "unknown template expression {expr:?}; use a variable name, env.NAME, vu, iteration, \
         random_int(a, b), random_string(n), random_choice(a, b, …), raw(name), uuid(), iso_timestamp() or unix_millis()"
    ))
}

/// `random_int(a, b)`, `random_string(n)` or `random_choice(a, b, …)`, if `expr` calls one.
fn random_call(expr: &str) -> Option<Result<Part, String>> {
    if let Some(args) = call_args(expr, "random_int") {
        let nums: Result<Vec<i64>, _> = args.iter().map(|a| a.parse::<i64>()).collect();
        return Some(match nums.as_deref() {
            Err(_) => Err(format!("random_int takes two integers, got {expr:?}")),
            Ok([a, b]) if a <= b => Ok(Part::RandomInt(*a, *b)),
            Ok(_) => Err(format!(
                "random_int(a, b) needs two integers with a <= b, got {expr:?}"
            )),
        });
    }
    if let Some(args) = call_args(expr, "random_string") {
        return Some(match args.as_slice() {
            [n] => match n.parse::<usize>() {
                Ok(n) if (1..=4096).contains(&n) => Ok(Part::RandomString(n)),
                _ => Err(format!(
                    "random_string(n) needs 1 <= n <= 4096, got {expr:?}"
                )),
            },
            _ => Err(format!("random_string takes one argument, got {expr:?}")),
        });
    }
    if let Some(args) = call_args(expr, "random_choice") {
        let values: Vec<String> = args
            .iter()
            .map(|a| a.trim_matches(|c| c == '"' || c == '\'').to_string())
            .collect();
        return Some(if values.iter().any(String::is_empty) {
            Err(format!(
                "random_choice(a, b, …) needs one or more values, got {expr:?}"
            ))
        } else {
            Ok(Part::RandomChoice(values))
        });
    }
    None
}

/// A field of a variable's JSON: a string as its text, any other value as JSON, nothing
/// (empty) when the variable is not JSON or has no such field.
fn field(value: Option<&str>, path: &[String]) -> String {
    let Some(mut v) = value.and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok()) else {
        return String::new();
    };
    for key in path {
        let next = match &mut v {
            serde_json::Value::Object(m) => m.remove(key),
            serde_json::Value::Array(a) => key
                .parse::<usize>()
                .ok()
                .filter(|i| *i < a.len())
                .map(|i| a.swap_remove(i)),
            _ => None,
        };
        match next {
            Some(n) => v = n,
            None => return String::new(),
        }
    }
    match v {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

fn call_args<'a>(expr: &'a str, func: &str) -> Option<Vec<&'a str>> {
    let inner = expr.strip_prefix(func)?.trim_start().strip_prefix('(')?;
    let inner = inner.strip_suffix(')')?;
    Some(inner.split(',').map(str::trim).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct V(HashMap<&'static str, &'static str>);
    impl Vars for V {
        fn get(&self, name: &str) -> Option<&str> {
            self.0.get(name).copied()
        }
        fn vu(&self) -> u64 {
            7
        }
        fn iteration(&self) -> u64 {
            3
        }
    }

    fn env(name: &str) -> Option<String> {
        (name == "PW").then(|| "s3cret".to_string())
    }

    #[test]
    fn fields_of_a_json_variable() {
        let mut found = Compiled::default();
        let t = Template::compile(
            "{{ row.user }}/{{ row.tags.1 }}/{{ row.n }}/{{ row.none }}/{{ text.a }}",
            &env,
            &mut found,
        )
        .unwrap();
        let v = V(HashMap::from([
            ("row", r#"{"user":"ann b","tags":["x","y"],"n":3}"#),
            ("text", "plain"),
        ]));
        assert_eq!(t.render(&v), "ann b/y/3//");
        assert_eq!(found.vars, vec!["row", "row", "row", "row", "text"]);
        let url = Template::compile("/u?who={{ row.user }}", &env, &mut found).unwrap();
        assert_eq!(url.render_url(&v), "/u?who=ann%20b");
        assert!(Template::compile("{{ row..x }}", &env, &mut found).is_err());
    }

    #[test]
    fn renders_every_part_kind() {
        let mut found = Compiled::default();
        let t = Template::compile(
            "/u/{{ vu }}/{{iteration}}?p={{ random_int(1, 1) }}&t={{ token }}&pw={{ env.PW }}",
            &env,
            &mut found,
        )
        .unwrap();
        let v = V(HashMap::from([("token", "{{ vu }}")]));
        assert_eq!(t.render(&v), "/u/7/3?p=1&t={{ vu }}&pw=s3cret");
        assert_eq!(found.vars, vec!["token"]);
        assert_eq!(found.secrets, vec!["s3cret"]);
        let s = Template::compile("{{ random_string(12) }}", &env, &mut found).unwrap();
        assert_eq!(s.render(&v).len(), 12);
        let u = Template::compile("{{ uuid() }}", &env, &mut found).unwrap();
        assert_eq!(u.render(&v).len(), 36);
        let ms = Template::compile("{{ unix_millis() }}", &env, &mut found).unwrap();
        let n: u128 = ms.render(&v).parse().unwrap();
        assert!(n > 1_600_000_000_000 && ms.is_single_number(), "{n}");
    }

    #[test]
    fn unset_env_names_the_variable_not_a_value() {
        let err = Template::compile("{{ env.NOPE }}", &env, &mut Compiled::default()).unwrap_err();
        assert!(err.contains("NOPE"), "{err}");
        let err = Template::compile("{{ nope(", &env, &mut Compiled::default()).unwrap_err();
        assert!(err.contains("closing"), "{err}");
    }

    #[test]
    fn static_templates_are_one_literal() {
        let t = Template::compile("a{{ env.PW }}b", &env, &mut Compiled::default()).unwrap();
        assert_eq!(t.as_static(), Some("as3cretb"));
    }

    #[test]
    fn url_values_are_percent_encoded_unless_raw_or_the_base() {
        let vars = V(HashMap::from([
            ("q", "a b#c&d=e/f"),
            ("next", "http://127.0.0.1:9/p?x=1"),
        ]));
        let t = |text: &str| Template::compile(text, &|_| None, &mut Compiled::default()).unwrap();
        assert_eq!(
            t("/s?q={{ q }}").render_url(&vars),
            "/s?q=a%20b%23c%26d%3De/f"
        );
        assert_eq!(t("/s?q={{ raw(q) }}").render_url(&vars), "/s?q=a b#c&d=e/f");
        assert_eq!(
            t("{{ next }}&y=2").render_url(&vars),
            "http://127.0.0.1:9/p?x=1&y=2"
        );
        // Elsewhere (a header, a body) values are inserted as they are.
        assert_eq!(t("{{ q }}").render(&vars), "a b#c&d=e/f");
        assert!(Template::compile("{{ raw() }}", &|_| None, &mut Compiled::default()).is_err());
    }
}
