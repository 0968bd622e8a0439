//! Artillery's `{{ }}` templates in loadpacer's words.

use crate::config::error::Collector;
use serde_saphyr::Location;

/// Artillery's template functions in loadpacer's words: `$randomString()`,
/// `$randomNumber(a, b)`, `$processEnvironment.X` / `$env.X`, `$loopElement`, `$loopCount`,
/// `$isoTimestamp`, `$uuid`; `$timestamp`, which Artillery lacks, as milliseconds since the
/// epoch with a warning.
pub fn template(text: &str, at: Location, c: &mut Collector) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}") else {
            break;
        };
        out.push_str(&rest[..open]);
        let expr = rest[open + 2..open + close].trim();
        out.push_str("{{ ");
        out.push_str(&expression(expr, at, c));
        out.push_str(" }}");
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    out
}

fn expression(expr: &str, at: Location, c: &mut Collector) -> String {
    let call = |name: &str| {
        expr.strip_prefix(name)
            .map(|r| r.trim())
            .and_then(|r| r.strip_prefix('('))
            .and_then(|r| r.strip_suffix(')'))
            .map(str::trim)
    };
    if let Some(var) = expr
        .strip_prefix("$processEnvironment.")
        .or_else(|| expr.strip_prefix("$env."))
    {
        return format!("env.{var}");
    }
    if let Some(field) = expr.strip_prefix("$loopElement.") {
        return format!("loopElement.{field}");
    }
    match expr {
        "$loopElement" => return "loopElement".into(),
        "$loopCount" => return "loopCount".into(),
        "$timestamp" | "$timestamp()" => {
            c.warn_at(&at, "", "{{ $timestamp }} is not an Artillery variable (Artillery 2.0.21 renders it as `undefined`); translated as unix_millis(), milliseconds since the epoch");
            return "unix_millis()".into();
        }
        "$isoTimestamp" | "$isoTimestamp()" => return "iso_timestamp()".into(),
        "$uuid" | "$uuid()" => return "uuid()".into(),
        _ => {}
    }
    if let Some(args) = call("$randomString") {
        let n = if args.is_empty() { "10" } else { args };
        return format!("random_string({n})");
    }
    if let Some(args) = call("$randomNumber") {
        return format!("random_int({})", args.replace(' ', "").replace(',', ", "));
    }
    if expr.starts_with('$') {
        c.at(&at, "", format!("{{{{ {expr} }}}} is not translated: loadpacer has $randomString(), $randomNumber(a, b), $processEnvironment.NAME, $env.NAME, $loopElement, $loopCount, $isoTimestamp, $timestamp and $uuid; a processor's function is not called from a template: set the variable in a `function` step or a `beforeRequest` instead"));
    }
    expr.to_string()
}
