//! Module resolution: k6's built-in modules and the common jslib imports from memory, local
//! files relative to the importing module, and a located refusal for everything else (no
//! network fetch ever happens at run time).

use super::Sources;
use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::Declared;
use rquickjs::{Ctx, Error, Module, Result};
use std::path::Path;

/// The k6 modules loadpacer implements, by import name.
const BUILTIN: &[(&str, &str)] = &[
    ("k6", include_str!("k6/k6.js")),
    ("k6/http", include_str!("k6/http.js")),
    ("k6/metrics", include_str!("k6/metrics.js")),
    ("k6/execution", include_str!("k6/execution.js")),
    ("k6/data", include_str!("k6/data.js")),
    ("k6/encoding", include_str!("k6/encoding.js")),
    ("k6/crypto", include_str!("k6/crypto.js")),
    ("k6/timers", include_str!("k6/timers.js")),
];

/// Names under which jslib's k6-utils and k6-summary resolve, whatever the version in the URL.
const UTILS: &str = "jslib:k6-utils";
const UTILS_SOURCE: &str = include_str!("k6/utils.js");
const SUMMARY: &str = "jslib:k6-summary";
const SUMMARY_SOURCE: &str = include_str!("k6/summary.js");

/// Why an import cannot be run, when loadpacer knows; `None` for a local file.
pub fn refusal(name: &str) -> Option<String> {
    if BUILTIN.iter().any(|(n, _)| *n == name) || jslib(name).is_some() {
        return None;
    }
    let why = if name == "k6/browser" || name == "k6/experimental/browser" {
        "browser tests are not run by loadpacer (it measures HTTP and WebSocket services)"
            .to_string()
    } else if name == "k6/net/grpc" {
        "gRPC is not supported by loadpacer".to_string()
    } else if name.starts_with("k6/x/") {
        "k6 extensions (k6/x/*) are Go code built into a custom k6 binary; loadpacer cannot run them".to_string()
    } else if name == "k6/ws" || name == "k6/experimental/websockets" {
        format!("{name} is not supported by loadpacer yet")
    } else if name.starts_with("k6/") {
        format!("{name} is not a module loadpacer implements (it runs k6, k6/http, k6/metrics, k6/execution, k6/data, k6/encoding, k6/crypto, k6/timers)")
    } else if name.starts_with("http://") || name.starts_with("https://") {
        format!("remote module {name} is not fetched at run time: download it once and import it as a local file (./{})", name.rsplit('/').next().unwrap_or("module.js"))
    } else if name.starts_with('.') || name.starts_with('/') {
        return None;
    } else {
        format!("module {name} not found: import local files with a relative path (./{name}.js)")
    };
    Some(why)
}

/// Where k6's jslib modules are imported from; k6-utils and k6-summary under it are built in
/// (never fetched).
pub const JSLIB_ORIGIN: &str = "https://jslib.k6.io/";

/// jslib modules built in: k6-utils and k6-summary under any version.
fn jslib(name: &str) -> Option<&'static str> {
    let rest = name.strip_prefix(JSLIB_ORIGIN)?;
    if rest.starts_with("k6-utils/") {
        Some(UTILS)
    } else if rest.starts_with("k6-summary/") {
        Some(SUMMARY)
    } else {
        None
    }
}

/// Resolves and loads a script's modules, reading local files through [`Sources`].
pub struct ScriptLoader {
    pub sources: Sources,
}

impl Resolver for ScriptLoader {
    fn resolve<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> Result<String> {
        if BUILTIN.iter().any(|(n, _)| *n == name) {
            return Ok(name.to_string());
        }
        if let Some(n) = jslib(name) {
            return Ok(n.to_string());
        }
        if let Some(why) = refusal(name) {
            return Err(Error::new_resolving_message(base, name, why));
        }
        Ok(resolve_path(base, name))
    }
}

impl Loader for ScriptLoader {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> Result<Module<'js, Declared>> {
        if let Some((_, src)) = BUILTIN.iter().find(|(n, _)| *n == name) {
            return Module::declare(ctx.clone(), name, *src);
        }
        if name == UTILS {
            return Module::declare(ctx.clone(), name, UTILS_SOURCE);
        }
        if name == SUMMARY {
            return Module::declare(ctx.clone(), name, SUMMARY_SOURCE);
        }
        let text = self
            .sources
            .read(Path::new(name))
            .map_err(|e| Error::new_loading_message(name, e))?;
        Module::declare(ctx.clone(), name, text.as_bytes().to_vec())
    }
}

/// `name` relative to the folder of module `base` (a path as the loader named it), with `.`
/// and `..` folded so that one file has one name.
pub fn resolve_path(base: &str, name: &str) -> String {
    let joined = if name.starts_with('/') {
        std::path::PathBuf::from(name)
    } else {
        Path::new(base).parent().unwrap_or(Path::new("")).join(name)
    };
    let mut out = std::path::PathBuf::new();
    for c in joined.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_resolve_relative_to_the_importing_module() {
        assert_eq!(resolve_path("dir/script.js", "./lib/a.js"), "dir/lib/a.js");
        assert_eq!(resolve_path("dir/lib/a.js", "../b.js"), "dir/b.js");
        assert_eq!(resolve_path("script.js", "./b.js"), "b.js");
    }

    #[test]
    fn what_cannot_run_is_named_with_what_to_do() {
        assert!(refusal("k6/http").is_none());
        assert!(refusal("./lib.js").is_none());
        assert!(refusal(&format!("{JSLIB_ORIGIN}k6-utils/1.4.0/index.js")).is_none());
        assert!(refusal("k6/browser").unwrap().contains("browser"));
        assert!(refusal("k6/x/kafka").unwrap().contains("extensions"));
        let remote = refusal("https://127.0.0.2/lib/papaparse.js").unwrap();
        assert!(remote.contains("./papaparse.js"), "{remote}");
        assert!(refusal("lodash").unwrap().contains("relative path"));
    }
}
