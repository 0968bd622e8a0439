//! The JavaScript runtime for k6 scripts: QuickJS-NG through `rquickjs`, one isolated
//! runtime per virtual user, each on its own stackful coroutine (`corosensei`), so that a
//! script's synchronous `http.get` suspends the VU and never a thread. The choice and its
//! measurements are in docs/architecture.md ("Where the script runtime goes").
//!
//! This stage knows neither `config` nor `run`: [`Program::load`] evaluates a script's init
//! context once to read its `options`, exports and metrics (for the config front end), and
//! [`Vu`] runs its iterations, yielding a [`host::Op`] wherever it must wait; the run stage
//! answers them.

mod cookies;
mod crypto;
pub mod host;
mod loader;
mod natives;
pub mod processor;
mod vu;

pub use host::{Event, Exec, HttpCall, HttpReply, Op, Reply};
pub use loader::JSLIB_ORIGIN;
pub use vu::Vu;

use rquickjs::{Context, Ctx, Runtime};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Largest script module or `open()`ed file.
const FILE_LIMIT: u64 = 64 << 20;

/// Memory one VU's JavaScript may use before its allocation fails with an error.
pub const VU_MEMORY_LIMIT: usize = 256 << 20;

/// A script error located in the script: `file:line:col: message`, with the JavaScript stack.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.located())]
pub struct ScriptError {
    pub file: String,
    /// 1-based; 0 when the engine gave no place.
    pub line: u32,
    pub column: u32,
    pub message: String,
    /// The JavaScript stack, one `at …` frame per line (may be empty).
    pub stack: String,
}

impl ScriptError {
    fn located(&self) -> String {
        if self.line == 0 {
            format!("{}: {}", self.file, self.message)
        } else {
            format!(
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }

    fn plain(file: &str, message: impl Into<String>) -> Self {
        Self {
            file: file.to_string(),
            line: 0,
            column: 0,
            message: message.into(),
            stack: String::new(),
        }
    }
}

/// Every file a script read (modules and `open()`ed files), read once through the size limit
/// and shared by its VUs, so that every VU sees the same text.
#[derive(Debug, Clone, Default)]
pub struct Sources(Arc<Mutex<HashMap<PathBuf, Arc<[u8]>>>>);

impl Sources {
    /// A file's bytes, read on first use.
    pub fn bytes(&self, path: &Path) -> Result<Arc<[u8]>, String> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = map.get(path) {
            return Ok(b.clone());
        }
        let b: Arc<[u8]> = crate::files::read_bytes(path, FILE_LIMIT)
            .map_err(|e| e.about("script file"))?
            .into();
        map.insert(path.to_path_buf(), b.clone());
        Ok(b)
    }

    /// The text of every file read so far (modules, and `open()`ed files that are text).
    pub fn texts(&self) -> Vec<String> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.values()
            .filter_map(|b| std::str::from_utf8(b).ok().map(str::to_string))
            .collect()
    }

    /// A file as text.
    pub fn read(&self, path: &Path) -> Result<String, String> {
        let b = self.bytes(path)?;
        String::from_utf8(b.to_vec()).map_err(|_| format!("{} is not UTF-8 text", path.display()))
    }
}

/// A metric a script declares in its init context (`new Trend('name', true)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricDecl {
    /// `counter`, `gauge`, `rate` or `trend`.
    pub kind: &'static str,
    pub name: String,
    pub is_time: bool,
}

/// A loaded script: its files, and what its init context declared.
#[derive(Debug)]
pub struct Program {
    /// The entry module, as named (relative paths stay relative to the working folder).
    pub entry: String,
    pub sources: Sources,
    /// `__ENV`: the process environment and the `-e NAME=VALUE` choices over it.
    pub env: BTreeMap<String, String>,
    /// The exported `options`, as JSON (`null` when there are none).
    pub options: serde_json::Value,
    /// The module's exported functions.
    pub functions: Vec<String>,
    pub metrics: Vec<MetricDecl>,
}

impl Program {
    /// Reads the script and evaluates its init context once (no request may be sent there,
    /// as in k6) for its options, exported functions and metrics.
    pub fn load(entry: &Path, env: BTreeMap<String, String>) -> Result<Program, ScriptError> {
        let name = entry.display().to_string();
        let sources = Sources::default();
        sources
            .read(entry)
            .map_err(|e| ScriptError::plain(&name, e))?;
        let mut program = Program {
            entry: name,
            sources,
            env,
            options: serde_json::Value::Null,
            functions: Vec::new(),
            metrics: Vec::new(),
        };
        let cell = natives::VuCell::new(&program, 0, Default::default());
        let rt = new_runtime(&program, &cell)?;
        let ctx =
            Context::full(&rt).map_err(|e| ScriptError::plain(&program.entry, e.to_string()))?;
        let (options, functions) = ctx.with(|ctx| -> Result<_, ScriptError> {
            let module = vu::evaluate(&ctx, &program, &cell)?;
            let ns = module
                .namespace()
                .map_err(|e| error_of(&ctx, e, &program))?;
            let mut functions = Vec::new();
            for key in ns.keys::<String>() {
                let key = key.map_err(|e| error_of(&ctx, e, &program))?;
                let v: rquickjs::Value = ns.get(&key).map_err(|e| error_of(&ctx, e, &program))?;
                if v.is_function() {
                    functions.push(key);
                }
            }
            let options: Option<rquickjs::Value> = ns.get("options").ok();
            let options = match options.filter(|v| !v.is_undefined()) {
                Some(v) => {
                    let text = ctx
                        .json_stringify(v)
                        .map_err(|e| error_of(&ctx, e, &program))?
                        .map(|s| s.to_string())
                        .transpose()
                        .map_err(|e| error_of(&ctx, e, &program))?
                        .unwrap_or_else(|| "null".into());
                    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
                }
                None => serde_json::Value::Null,
            };
            Ok((options, functions))
        })?;
        program.options = options;
        program.functions = functions;
        program.metrics = cell.declared.borrow().clone();
        Ok(program)
    }

    /// Calls an exported function once, in a fresh context on this thread, as k6 runs
    /// `handleSummary(data)`: its argument and its result as JSON. It may not send requests
    /// or sleep.
    pub fn call_once(&self, function: &str, arg_json: &str) -> Result<Option<String>, ScriptError> {
        let cell = natives::VuCell::new(self, 0, Default::default());
        let rt = new_runtime(self, &cell)?;
        let ctx = Context::full(&rt).map_err(|e| ScriptError::plain(&self.entry, e.to_string()))?;
        ctx.with(|ctx| {
            let module = vu::evaluate(&ctx, self, &cell)?;
            let f: rquickjs::Function = module
                .namespace()
                .and_then(|ns| ns.get(function))
                .map_err(|e| error_of(&ctx, e, self))?;
            let arg = ctx
                .json_parse(arg_json.as_bytes().to_vec())
                .map_err(|e| error_of(&ctx, e, self))?;
            let out: rquickjs::Value = f.call((arg,)).map_err(|e| error_of(&ctx, e, self))?;
            if out.is_undefined() {
                return Ok(None);
            }
            ctx.json_stringify(out)
                .map_err(|e| error_of(&ctx, e, self))?
                .map(|s| s.to_string())
                .transpose()
                .map_err(|e| error_of(&ctx, e, self))
        })
    }

    /// Where `needle` (an import name) first appears quoted in a module's text: line and
    /// column.
    fn find(&self, module: &str, needle: &str) -> Option<(u32, u32)> {
        let text = self.sources.read(Path::new(module)).ok()?;
        let at = text
            .find(&format!("'{needle}'"))
            .or_else(|| text.find(&format!("\"{needle}\"")))?;
        Some(Self::place(&text, at))
    }

    /// Where `needle` first appears in a module's text, quoted or not: line and column.
    pub fn position(&self, module: &str, needle: &str) -> Option<(u32, u32)> {
        if let Some(p) = self.find(module, needle) {
            return Some(p);
        }
        let text = self.sources.read(Path::new(module)).ok()?;
        let at = text.find(needle)?;
        Some(Self::place(&text, at))
    }

    fn place(text: &str, at: usize) -> (u32, u32) {
        let before = &text[..at];
        let line = before.matches('\n').count() as u32 + 1;
        let column = (at - before.rfind('\n').map_or(0, |i| i + 1)) as u32 + 1;
        (line, column)
    }
}

/// A runtime with the script's loader, memory limit and interrupt handler.
fn new_runtime(
    program: &Program,
    cell: &std::rc::Rc<natives::VuCell>,
) -> Result<Runtime, ScriptError> {
    let rt = Runtime::new().map_err(|e| ScriptError::plain(&program.entry, e.to_string()))?;
    rt.set_memory_limit(VU_MEMORY_LIMIT);
    rt.set_loader(
        loader::ScriptLoader {
            sources: program.sources.clone(),
        },
        loader::ScriptLoader {
            sources: program.sources.clone(),
        },
    );
    let watch = cell.clone();
    rt.set_interrupt_handler(Some(Box::new(move || watch.must_stop())));
    Ok(rt)
}

/// A JavaScript error (or any engine error) as a located [`ScriptError`].
fn error_of(ctx: &Ctx<'_>, e: rquickjs::Error, program: &Program) -> ScriptError {
    match e {
        rquickjs::Error::Exception => exception(ctx, program),
        rquickjs::Error::Resolving {
            base,
            name,
            message,
        } => {
            let (line, column) = program.find(&base, &name).unwrap_or((0, 0));
            ScriptError {
                file: base,
                line,
                column,
                message: format!(
                    "cannot import {name}: {}",
                    message.unwrap_or_else(|| "not found".into())
                ),
                stack: String::new(),
            }
        }
        other => ScriptError::plain(&program.entry, other.to_string()),
    }
}

/// The pending exception, located at its innermost frame in the script.
fn exception(ctx: &Ctx<'_>, program: &Program) -> ScriptError {
    let caught = ctx.catch();
    let (message, stack) = match caught.as_exception() {
        Some(ex) => (
            ex.message().unwrap_or_default(),
            ex.stack().unwrap_or_default(),
        ),
        None => (
            caught
                .as_string()
                .and_then(|s| s.to_string().ok())
                .unwrap_or_else(|| format!("{caught:?}")),
            String::new(),
        ),
    };
    let kind = caught
        .as_object()
        .and_then(|o| o.get::<_, rquickjs::Object>("constructor").ok())
        .and_then(|c| c.get::<_, String>("name").ok())
        .filter(|n| n != "Error" && !n.is_empty());
    let message = match kind {
        Some(k) => format!("{k}: {message}"),
        None => message,
    };
    if let Some(e) = unresolved(&message, program) {
        return e;
    }
    let place = stack.lines().find_map(frame_place);
    match place {
        Some((file, line, column)) => ScriptError {
            file,
            line,
            column,
            message,
            stack,
        },
        None => ScriptError {
            message,
            stack,
            ..ScriptError::plain(&program.entry, "")
        },
    }
}

/// QuickJS's "Error resolving module 'NAME' from 'BASE': WHY", located at the import in BASE.
fn unresolved(message: &str, program: &Program) -> Option<ScriptError> {
    let rest = message.split_once("Error resolving module '")?.1;
    let (name, rest) = rest.split_once("' from '")?;
    let (base, why) = rest
        .split_once("': ")
        .unwrap_or((rest.trim_end_matches('\''), "not found"));
    let (line, column) = program.find(base, name).unwrap_or((0, 0));
    Some(ScriptError {
        file: base.to_string(),
        line,
        column,
        message: format!("cannot import {name}: {why}"),
        stack: String::new(),
    })
}

/// `    at fn (file.js:12:5)` or `    at file.js:12:5` → the place, when it is in a file (not
/// in a built-in module or native code).
fn frame_place(frame: &str) -> Option<(String, u32, u32)> {
    let frame = frame.trim().strip_prefix("at ")?;
    let inner = match (frame.rfind('('), frame.ends_with(')')) {
        (Some(i), true) => &frame[i + 1..frame.len() - 1],
        _ => frame,
    };
    let mut parts = inner.rsplitn(3, ':');
    let column = parts.next()?.parse().ok()?;
    let line = parts.next()?.parse().ok()?;
    let file = parts.next()?;
    if file.starts_with("k6") || file.starts_with("jslib:") || file == "native" {
        return None;
    }
    Some((file.to_string(), line, column))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_names_its_place() {
        assert_eq!(
            frame_place("    at default (dir/script.js:12:5)"),
            Some(("dir/script.js".into(), 12, 5))
        );
        assert_eq!(
            frame_place("    at script.js:3:9"),
            Some(("script.js".into(), 3, 9))
        );
        assert_eq!(frame_place("    at check (k6:8:12)"), None);
        assert_eq!(frame_place("    at <anonymous> (native)"), None);
    }
}

#[cfg(test)]
mod vu_tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    fn script(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn tempdir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("lp-script-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn the_init_context_gives_options_functions_and_metrics() {
        let d = tempdir();
        script(
            &d,
            "lib.js",
            "export const base = __ENV.BASE || 'http://127.0.0.1:1';\n",
        );
        let p = script(&d, "s.js", "import http from 'k6/http';\nimport { Trend } from 'k6/metrics';\nimport { base } from './lib.js';\nconst t = new Trend('waiting_time', true);\nexport const options = { vus: 3, duration: '2s', thresholds: { http_req_duration: ['p(95)<500'] } };\nexport default function () { http.get(base + '/'); t.add(1); }\nexport function other() {}\n");
        let env = BTreeMap::from([("BASE".to_string(), "http://127.0.0.1:9".to_string())]);
        let prog = Program::load(&p, env).unwrap();
        assert_eq!(prog.options["vus"], 3);
        assert_eq!(
            prog.options["thresholds"]["http_req_duration"][0],
            "p(95)<500"
        );
        let mut f = prog.functions.clone();
        f.sort();
        assert_eq!(f, ["default", "other"]);
        assert_eq!(
            prog.metrics,
            [MetricDecl {
                kind: "trend",
                name: "waiting_time".into(),
                is_time: true
            }]
        );
    }

    #[test]
    fn errors_are_located_in_the_script() {
        let d = tempdir();
        let p = script(&d, "bad.js", "export default function () {}\nconst x = ;\n");
        let e = Program::load(&p, BTreeMap::new()).unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let p = script(
            &d,
            "throw.js",
            "export default function () {}\n\nthrow new Error('boom');\n",
        );
        let e = Program::load(&p, BTreeMap::new()).unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (3, "boom"), "{e}");
        let p = script(&d, "browser.js", "import http from 'k6/http';\nimport { browser } from 'k6/browser';\nexport default function () {}\n");
        let e = Program::load(&p, BTreeMap::new()).unwrap_err();
        assert_eq!((e.line, e.column), (2, 25), "{e}");
        assert!(e.message.contains("browser"), "{e}");
        let p = script(&d, "init.js", "import http from 'k6/http';\nhttp.get('http://127.0.0.1:9/');\nexport default function () {}\n");
        let e = Program::load(&p, BTreeMap::new()).unwrap_err();
        assert!(e.message.contains("init context"), "{e}");
        assert_eq!(e.line, 2, "{e}");
    }

    #[test]
    fn a_vu_waits_for_each_request_and_reports_checks() {
        let d = tempdir();
        let p = script(&d, "s.js", "import http from 'k6/http';\nimport { check, group, sleep } from 'k6';\nexport function setup() { return { n: 2 }; }\nexport default function (data) {\n  group('g', () => {\n    const r = http.get('http://127.0.0.1:9/x', { tags: { name: 'x' } });\n    check(r, { 'is 200': (r) => r.status === 200, 'n': () => data.n === 2 });\n  });\n  sleep(0.5);\n  return r2();\n}\nfunction r2() { const rs = http.batch(['http://127.0.0.1:9/a', 'http://127.0.0.1:9/b']); return rs.length; }\n");
        let prog = Arc::new(Program::load(&p, BTreeMap::new()).unwrap());
        let mut vu = Vu::new(prog, 7, Arc::new(AtomicBool::new(false))).unwrap();
        assert!(matches!(vu.resume(Reply::Start), Some(Op::Ready(Ok(())))));
        let exec = Exec {
            function: "default".into(),
            data: Some(Arc::from("{\"n\":2}")),
            vu: 7,
            ..Exec::default()
        };
        let Some(Op::Http(calls)) = vu.resume(Reply::Iterate(exec)) else {
            panic!()
        };
        assert_eq!(
            (calls[0].name.as_deref(), calls[0].group.as_str()),
            (Some("x"), "::g")
        );
        let reply = HttpReply {
            status: 200,
            ..HttpReply::default()
        };
        let Some(Op::Sleep(d)) = vu.resume(Reply::Http(vec![reply])) else {
            panic!()
        };
        assert_eq!(d, std::time::Duration::from_millis(500));
        let ev = vu.events();
        assert_eq!(
            ev,
            [
                Event::Check {
                    name: "is 200".into(),
                    group: "::g".into(),
                    ok: true
                },
                Event::Check {
                    name: "n".into(),
                    group: "::g".into(),
                    ok: true
                }
            ]
        );
        let Some(Op::Http(calls)) = vu.resume(Reply::Slept) else {
            panic!()
        };
        assert_eq!(calls.len(), 2);
        let Some(Op::Done(Ok(Some(n)))) = vu.resume(Reply::Http(vec![
            HttpReply::default(),
            HttpReply::default(),
        ])) else {
            panic!()
        };
        assert_eq!(n, "2");
        // A stop while waiting ends the iteration with an error, and the VU can go on.
        let exec = Exec {
            function: "default".into(),
            data: Some(Arc::from("{\"n\":2}")),
            vu: 7,
            ..Exec::default()
        };
        assert!(matches!(vu.resume(Reply::Iterate(exec)), Some(Op::Http(_))));
        let Some(Op::Done(Err(e))) = vu.resume(Reply::Stop) else {
            panic!()
        };
        assert!(e.message.contains("stopped"), "{e}");
        assert!(vu.resume(Reply::Exit).is_none());
    }

    #[test]
    fn a_spinning_script_is_interrupted_when_the_run_halts() {
        let d = tempdir();
        let p = script(
            &d,
            "spin.js",
            "export default function () { for (;;) { try { while (true) {} } catch (e) {} } }\n",
        );
        let prog = Arc::new(Program::load(&p, BTreeMap::new()).unwrap());
        let halt = Arc::new(AtomicBool::new(false));
        let mut vu = Vu::new(prog, 1, halt.clone()).unwrap();
        assert!(matches!(vu.resume(Reply::Start), Some(Op::Ready(Ok(())))));
        let h = halt.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            h.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        let exec = Exec {
            function: "default".into(),
            ..Exec::default()
        };
        let Some(Op::Done(Err(e))) = vu.resume(Reply::Iterate(exec)) else {
            panic!()
        };
        assert!(e.message.contains("interrupted"), "{e}");
        t.join().unwrap();
    }
}
