//! Artillery processors: a module of functions that Artillery calls around a request
//! (`beforeRequest`, `afterResponse`) and as flow steps (`function`, `beforeScenario`,
//! `afterScenario`). As in Artillery, where they all run in one Node process, one engine
//! (one QuickJS runtime, on its own thread) serves every virtual user of a run, so a
//! module-level variable is shared by them all; calls are served one at a time.
//!
//! A processor is CommonJS (`module.exports = { … }`, `exports.f = …`, `require('./x')` of
//! relative files) or an ES module (`export function f …`). The callback form
//! (`function (req, context, events, next)`) and the async form (a returned promise) both
//! work; `context.vars` is the virtual user's variables, read back after the call, and a
//! `beforeRequest` may change the request (`url`, `headers`, `json`, `body`, `qs`). Node's
//! own modules are not there: `require` of a package is an error that says so, apart from
//! `crypto.randomUUID` and `uuid.v4`.

use super::{error_of, Program, ScriptError, Sources};
use rquickjs::{Context, Ctx, Function, Object, Runtime, Value};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How long one call may run before it is interrupted (a processor that loops forever).
const CALL_LIMIT: Duration = Duration::from_secs(10);

/// Memory the processor engine may use.
const MEMORY_LIMIT: usize = 256 << 20;

/// The globals a processor sees, and `__call`, through which every hook is called.
const PRELUDE: &str = r#"
(() => {
  const host = globalThis.__processor;
  const text = (args) => args.map((a) => (typeof a === 'string' ? a : (() => { try { return JSON.stringify(a); } catch (e) { return String(a); } })())).join(' ');
  globalThis.console = {
    log: (...a) => host.print(text(a)),
    info: (...a) => host.print(text(a)),
    warn: (...a) => host.print(text(a)),
    error: (...a) => host.print(text(a)),
    debug: (...a) => host.print(text(a)),
  };
  globalThis.process = { env: JSON.parse(host.env()) };
  const builtin = {
    crypto: { randomUUID: () => host.uuid() },
    uuid: { v4: () => host.uuid() },
  };
  const cache = new Map();
  const requireFrom = (dir) => (name) => {
    name = String(name);
    if (name.startsWith('node:')) name = name.slice(5);
    if (Object.prototype.hasOwnProperty.call(builtin, name)) return builtin[name];
    if (!name.startsWith('./') && !name.startsWith('../') && !name.startsWith('/')) {
      throw new Error(`require('${name}'): packages and Node's own modules are not available; loadpacer runs processors in an embedded engine (relative files, crypto.randomUUID and uuid.v4 only)`);
    }
    const path = host.resolve(dir, name);
    if (cache.has(path)) return cache.get(path).exports;
    const module = { exports: {} };
    cache.set(path, module);
    const dirname = host.dirname(path);
    host.compile(path)(module.exports, requireFrom(dirname), module, path, dirname);
    return module.exports;
  };
  globalThis.__load = (path) => requireFrom(host.dirname(path))(path.startsWith('/') ? path : './' + host.basename(path));
  globalThis.__call = (exported, kind, name, input) => {
    const x = JSON.parse(input);
    const context = { vars: x.vars, _uid: String(x.vu) };
    const events = { emit: () => {}, on: () => {} };
    const state = { done: false, error: null };
    const next = (e) => { state.done = true; if (e) state.error = e; };
    const f = exported[name];
    let r;
    if (kind === 'before') r = f(x.request, context, events, next);
    else if (kind === 'after') r = f(x.request, x.response, context, events, next);
    else r = f(context, events, next);
    if (r && typeof r.then === 'function') {
      r.then(() => { state.done = true; }, (e) => { state.done = true; state.error = e || new Error('rejected'); });
    }
    return () => {
      if (state.error) throw (state.error instanceof Error ? state.error : new Error(String(state.error)));
      return state.done ? JSON.stringify({ vars: context.vars, request: x.request }) : null;
    };
  };
})();
"#;

/// Which hook a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    /// `beforeRequest(requestParams, context, events, next)`.
    BeforeRequest,
    /// `afterResponse(requestParams, response, context, events, next)`.
    AfterResponse,
    /// A flow step: `function(context, events, next)`.
    Function,
}

/// One call of a processor function.
#[derive(Debug, Clone)]
pub struct HookCall {
    pub kind: HookKind,
    pub function: String,
    /// The virtual user's variables (`context.vars`).
    pub vars: serde_json::Map<String, serde_json::Value>,
    /// `requestParams`: `url`, `method`, `headers`, and `json` or `body`.
    pub request: Option<serde_json::Value>,
    /// `response` of an `afterResponse`: `statusCode`, `headers`, `body`.
    pub response: Option<serde_json::Value>,
    pub vu: u64,
}

/// What a call left: the variables, and the request as a `beforeRequest` changed it.
#[derive(Debug, Clone, Default)]
pub struct HookOutcome {
    pub vars: serde_json::Map<String, serde_json::Value>,
    pub request: Option<serde_json::Value>,
}

/// A processor loaded on this thread.
pub struct Engine {
    program: Program,
    /// Kept alive with its context.
    _rt: Runtime,
    ctx: Context,
    deadline: Rc<Cell<Option<Instant>>>,
    /// How long one call may run.
    pub limit: Duration,
    /// The exported functions, by name.
    pub functions: Vec<String>,
}

impl Engine {
    /// Loads the processor: evaluates its module once (its top level runs here, as when
    /// Artillery requires it) and lists the functions it exports.
    pub fn load(path: &Path) -> Result<Engine, ScriptError> {
        let name = path.display().to_string();
        let sources = Sources::default();
        let text = sources
            .read(path)
            .map_err(|e| ScriptError::plain(&name, e))?;
        let program = Program {
            entry: name.clone(),
            sources: sources.clone(),
            env: BTreeMap::new(),
            options: serde_json::Value::Null,
            functions: Vec::new(),
            metrics: Vec::new(),
        };
        let rt = Runtime::new().map_err(|e| ScriptError::plain(&name, e.to_string()))?;
        rt.set_memory_limit(MEMORY_LIMIT);
        rt.set_loader(
            super::loader::ScriptLoader {
                sources: sources.clone(),
            },
            super::loader::ScriptLoader { sources },
        );
        let deadline: Rc<Cell<Option<Instant>>> = Rc::default();
        let watch = deadline.clone();
        rt.set_interrupt_handler(Some(Box::new(move || {
            watch.get().is_some_and(|d| Instant::now() > d)
        })));
        let ctx = Context::full(&rt).map_err(|e| ScriptError::plain(&name, e.to_string()))?;
        let mut engine = Engine {
            program,
            _rt: rt,
            ctx,
            deadline,
            limit: CALL_LIMIT,
            functions: Vec::new(),
        };
        engine.deadline.set(Some(Instant::now() + CALL_LIMIT));
        let functions = engine.ctx.with(|ctx| -> Result<Vec<String>, ScriptError> {
            install(&ctx).map_err(|e| error_of(&ctx, e, &engine.program))?;
            let exported = if is_es_module(&text) {
                es_exports(&ctx, &engine.program, &text)?
            } else {
                let load: Function = ctx
                    .globals()
                    .get("__load")
                    .map_err(|e| error_of(&ctx, e, &engine.program))?;
                load.call::<_, Object>((name.clone(),))
                    .map_err(|e| error_of(&ctx, e, &engine.program))?
            };
            let mut functions = Vec::new();
            for key in exported.keys::<String>() {
                let key = key.map_err(|e| error_of(&ctx, e, &engine.program))?;
                let v: Value = exported
                    .get(&key)
                    .map_err(|e| error_of(&ctx, e, &engine.program))?;
                if v.is_function() {
                    functions.push(key);
                }
            }
            ctx.globals()
                .set("__exported", exported)
                .map_err(|e| error_of(&ctx, e, &engine.program))?;
            Ok(functions)
        });
        engine.deadline.set(None);
        let functions = functions.map_err(unwrapped)?;
        engine.functions = functions;
        Ok(engine)
    }

    /// Calls one function and runs its promise jobs until it called `next()` or its promise
    /// settled.
    pub fn call(&self, call: &HookCall) -> Result<HookOutcome, ScriptError> {
        let input = serde_json::json!({
            "vars": call.vars,
            "request": call.request,
            "response": call.response,
            "vu": call.vu,
        })
        .to_string();
        let kind = match call.kind {
            HookKind::BeforeRequest => "before",
            HookKind::AfterResponse => "after",
            HookKind::Function => "function",
        };
        self.deadline.set(Some(Instant::now() + self.limit));
        let result = self.ctx.with(|ctx| {
            let program = &self.program;
            let globals = ctx.globals();
            let call_fn: Function = globals.get("__call").map_err(|e| error_of(&ctx, e, program))?;
            let exported: Object = globals
                .get("__exported")
                .map_err(|e| error_of(&ctx, e, program))?;
            let settle: Function = call_fn
                .call((exported, kind, call.function.as_str(), input))
                .map_err(|e| error_of(&ctx, e, program))?;
            while ctx.execute_pending_job() {}
            let out: Option<String> = settle.call(()).map_err(|e| error_of(&ctx, e, program))?;
            let Some(out) = out else {
                return Err(ScriptError::plain(
                    &program.entry,
                    format!("{} neither called next() nor returned a promise that settled (timers such as setTimeout are not available)", call.function),
                ));
            };
            let v: serde_json::Value = serde_json::from_str(&out)
                .map_err(|e| ScriptError::plain(&program.entry, e.to_string()))?;
            Ok(HookOutcome {
                vars: v
                    .get("vars")
                    .and_then(|v| v.as_object())
                    .cloned()
                    .unwrap_or_default(),
                request: v.get("request").cloned().filter(|r| !r.is_null()),
            })
        });
        self.deadline.set(None);
        result.map_err(unwrapped).map_err(|mut e| {
            if e.message.contains("interrupted") {
                e.message = format!(
                    "{} ran longer than {:?} and was stopped",
                    call.function, self.limit
                );
            }
            e
        })
    }
}

/// What a CommonJS file is wrapped in, on its first line.
const WRAPPER: &str = "(function (exports, require, module, __filename, __dirname) {";

/// An error on the first line of a CommonJS file is placed after the wrapper: give its
/// column in the file.
fn unwrapped(mut e: ScriptError) -> ScriptError {
    let wrapped = e.line == 1
        && e.column as usize > WRAPPER.len()
        && std::fs::read_to_string(&e.file).is_ok_and(|t| !is_es_module(&t));
    if wrapped {
        // QuickJS counts the first line's columns from 0 (later lines from 1).
        e.column -= WRAPPER.len() as u32 - 1;
    }
    e
}

/// An ES module's source (`export`/`import` statements) rather than CommonJS.
fn is_es_module(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with("export ") || l.starts_with("export{") || l.starts_with("import ")
    })
}

/// An ES module's namespace: its exports.
fn es_exports<'js>(
    ctx: &Ctx<'js>,
    program: &Program,
    text: &str,
) -> Result<Object<'js>, ScriptError> {
    let declared = rquickjs::Module::declare(ctx.clone(), program.entry.as_str(), text)
        .map_err(|e| error_of(ctx, e, program))?;
    let (module, promise) = declared.eval().map_err(|e| error_of(ctx, e, program))?;
    promise
        .finish::<()>()
        .map_err(|e| error_of(ctx, e, program))?;
    module.namespace().map_err(|e| error_of(ctx, e, program))
}

/// `__processor`: what the prelude needs from the host, then the prelude.
fn install<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<()> {
    let host = Object::new(ctx.clone())?;
    let printed = Rc::new(Cell::new((Instant::now(), 0u32)));
    host.set(
        "print",
        Function::new(ctx.clone(), move |line: String| {
            // At most 20 lines a second: a processor that logs every call cannot flood.
            let (since, n) = printed.get();
            let (since, n) = if since.elapsed() >= Duration::from_secs(1) {
                (Instant::now(), 0)
            } else {
                (since, n)
            };
            printed.set((since, n + 1));
            if n < 20 {
                eprintln!("processor: {line}");
            }
        })?,
    )?;
    host.set(
        "env",
        Function::new(ctx.clone(), || {
            let env: BTreeMap<String, String> = std::env::vars().collect();
            serde_json::to_string(&env).unwrap_or_else(|_| "{}".into())
        })?,
    )?;
    host.set(
        "uuid",
        Function::new(ctx.clone(), || uuid::Uuid::new_v4().to_string())?,
    )?;
    module_natives(ctx, &host)?;
    ctx.globals().set("__processor", host)?;
    // Named `native`: an error is located at the processor's line, not in the prelude.
    let mut options = rquickjs::context::EvalOptions::default();
    options.global = true;
    options.strict = false;
    options.filename = Some("native".into());
    ctx.eval_with_options::<(), _>(PRELUDE, options)
}

/// What `require` needs: paths, and a CommonJS file compiled into its wrapper function.
fn module_natives<'js>(ctx: &Ctx<'js>, host: &Object<'js>) -> rquickjs::Result<()> {
    host.set(
        "resolve",
        Function::new(ctx.clone(), |dir: String, name: String| {
            let mut p = PathBuf::from(dir).join(name);
            if p.extension().is_none() {
                p.set_extension("js");
            }
            normalise(&p).display().to_string()
        })?,
    )?;
    host.set(
        "dirname",
        Function::new(ctx.clone(), |path: String| {
            Path::new(&path)
                .parent()
                .map(|p| p.display().to_string())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| ".".into())
        })?,
    )?;
    host.set(
        "basename",
        Function::new(ctx.clone(), |path: String| {
            Path::new(&path)
                .file_name()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default()
        })?,
    )?;
    host.set(
        "compile",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, path: String| -> rquickjs::Result<Function<'js>> {
                let text = crate::files::read_bytes(Path::new(&path), super::FILE_LIMIT)
                    .map_err(|e| rquickjs::Exception::throw_message(&ctx, &e.about("processor")))
                    .and_then(|b| {
                        String::from_utf8(b).map_err(|_| {
                            rquickjs::Exception::throw_message(
                                &ctx,
                                &format!("{path} is not UTF-8 text"),
                            )
                        })
                    })?;
                // On the first line, so that line numbers in errors are the file's own.
                let wrapped = format!("{WRAPPER}{text}\n}})");
                let mut options = rquickjs::context::EvalOptions::default();
                options.global = true;
                options.strict = false;
                options.filename = Some(path);
                ctx.eval_with_options(wrapped, options)
            },
        )?,
    )?;
    Ok(())
}

/// `a/./b/../c` as `a/c`, without touching the file system.
fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The functions a processor exports, read by loading it once (for the config stage).
pub fn exported_functions(path: &Path) -> Result<Vec<String>, ScriptError> {
    Engine::load(path).map(|e| e.functions)
}

/// A processor's engine on its own thread, called from any task.
pub struct ProcessorThread {
    calls: std::sync::mpsc::Sender<Request>,
}

type Request = (
    HookCall,
    tokio::sync::oneshot::Sender<Result<HookOutcome, ScriptError>>,
);

impl ProcessorThread {
    /// Loads the processor on a new thread; its load error, if any, is returned here.
    pub fn start(path: &Path) -> Result<ProcessorThread, ScriptError> {
        let (calls, rx) = std::sync::mpsc::channel::<Request>();
        let (loaded_tx, loaded_rx) = std::sync::mpsc::channel();
        let path = path.to_path_buf();
        std::thread::Builder::new()
            .name("processor".into())
            .spawn(move || {
                let engine = match Engine::load(&path) {
                    Ok(e) => {
                        let _ = loaded_tx.send(Ok(()));
                        e
                    }
                    Err(e) => {
                        let _ = loaded_tx.send(Err(e));
                        return;
                    }
                };
                // Ends when every sender is gone (the run is over).
                while let Ok((call, reply)) = rx.recv() {
                    let _ = reply.send(engine.call(&call));
                }
            })
            .map_err(|e| ScriptError::plain("processor", e.to_string()))?;
        loaded_rx
            .recv()
            .map_err(|_| ScriptError::plain("processor", "the processor thread ended"))??;
        Ok(ProcessorThread { calls })
    }

    /// Calls a function on the engine's thread and waits for its outcome.
    pub async fn call(&self, call: HookCall) -> Result<HookOutcome, ScriptError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.calls
            .send((call, tx))
            .map_err(|_| ScriptError::plain("processor", "the processor thread ended"))?;
        rx.await
            .map_err(|_| ScriptError::plain("processor", "the processor thread ended"))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn call(kind: HookKind, function: &str, vars: serde_json::Value) -> HookCall {
        HookCall {
            kind,
            function: function.into(),
            vars: vars.as_object().cloned().unwrap_or_default(),
            request: Some(serde_json::json!({"url": "http://127.0.0.1/x", "headers": {}})),
            response: Some(
                serde_json::json!({"statusCode": 201, "headers": {}, "body": "{\"id\":7}"}),
            ),
            vu: 3,
        }
    }

    #[test]
    fn commonjs_callbacks_promises_and_relative_requires() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "lib.js", "exports.twice = (n) => n * 2;\n");
        let p = write(
            dir.path(),
            "proc.js",
            "const lib = require('./lib');\nlet calls = 0;\nmodule.exports = {\n  setToken(context, events, next) { calls += 1; context.vars.token = 'T' + lib.twice(context.vars.n) + '-' + calls; next(); },\n  async sign(req, context) { req.headers['x-sig'] = context.vars.token; },\n  parse(req, res, context, ee, next) { context.vars.id = JSON.parse(res.body).id; context.vars.status = res.statusCode; return next(); },\n  silent(context, events, next) {},\n  broken(context, events, next) { next(new Error('no token')); },\n};\n",
        );
        let e = Engine::load(&p).unwrap();
        assert_eq!(
            e.functions,
            ["setToken", "sign", "parse", "silent", "broken"]
        );
        let out = e
            .call(&call(
                HookKind::Function,
                "setToken",
                serde_json::json!({"n": 21}),
            ))
            .unwrap();
        assert_eq!(out.vars["token"], "T42-1");
        let again = e
            .call(&call(
                HookKind::Function,
                "setToken",
                serde_json::json!({"n": 1}),
            ))
            .unwrap();
        assert_eq!(
            again.vars["token"], "T2-2",
            "module state is shared across calls"
        );
        let signed = e
            .call(&call(
                HookKind::BeforeRequest,
                "sign",
                out.vars.clone().into(),
            ))
            .unwrap();
        assert_eq!(signed.request.unwrap()["headers"]["x-sig"], "T42-1");
        let parsed = e
            .call(&call(
                HookKind::AfterResponse,
                "parse",
                serde_json::json!({}),
            ))
            .unwrap();
        assert_eq!(parsed.vars["id"], 7);
        assert_eq!(parsed.vars["status"], 201);
        let silent = e
            .call(&call(HookKind::Function, "silent", serde_json::json!({})))
            .unwrap_err();
        assert!(silent.message.contains("neither called next()"), "{silent}");
        let broken = e
            .call(&call(HookKind::Function, "broken", serde_json::json!({})))
            .unwrap_err();
        assert!(broken.message.contains("no token"), "{broken}");
    }

    #[test]
    fn es_modules_packages_and_errors_are_located() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "esm.js",
            "import { helper } from './helper.js';\nexport function go(context, events, next) { context.vars.x = helper(); next(); }\n",
        );
        write(
            dir.path(),
            "helper.js",
            "export const helper = () => 'ok';\n",
        );
        let e = Engine::load(&p).unwrap();
        let out = e
            .call(&call(HookKind::Function, "go", serde_json::json!({})))
            .unwrap();
        assert_eq!(out.vars["x"], "ok");
        let faker = write(
            dir.path(),
            "faker.js",
            "const { faker } = require('@faker-js/faker');\nmodule.exports = {};\n",
        );
        let err = Engine::load(&faker).err().unwrap();
        assert!(err.message.contains("@faker-js/faker"), "{err}");
        assert_eq!((err.line, err.column), (1, 19), "{err}");
        let spin = write(
            dir.path(),
            "spin.js",
            "module.exports = { spin(context, events, next) { for (;;) {} } };\n",
        );
        let mut e = Engine::load(&spin).unwrap();
        e.limit = Duration::from_millis(200);
        let err = e
            .call(&call(HookKind::Function, "spin", serde_json::json!({})))
            .unwrap_err();
        assert!(err.message.contains("ran longer than"), "{err}");
    }
}
