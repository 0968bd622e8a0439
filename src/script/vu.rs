//! One virtual user: its own QuickJS runtime and context, created, run and freed on its own
//! coroutine stack (QuickJS's stack checks then see one stack), suspended wherever the script
//! waits.

use super::host::{Event, Op, Reply};
use super::natives::{install, VuCell};
use super::{error_of, new_runtime, Program, ScriptError};
use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};
use rquickjs::module::Evaluated;
use rquickjs::{Context, Ctx, Function, Module, Persistent, Value};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Reserved stack of a VU's coroutine; only the pages a script touches are resident.
const STACK: usize = 1 << 20;
/// What QuickJS may use of it before a deep recursion is a `RangeError`, not a crash.
const JS_STACK: usize = 768 << 10;

/// A VU of a script: resume it with a [`Reply`], it answers with the next [`Op`].
pub struct Vu {
    coroutine: Coroutine<Reply, Op, ()>,
    cell: Rc<VuCell>,
}

impl Vu {
    /// A VU that evaluates its init context at the first [`Vu::resume`] (with
    /// [`Reply::Start`]), answering [`Op::Ready`]. `halt` interrupts its JavaScript wherever
    /// it is (the run is over).
    pub fn new(program: Arc<Program>, vu: u64, halt: Arc<AtomicBool>) -> std::io::Result<Vu> {
        let cell = VuCell::new(&program, vu, halt);
        let inner = cell.clone();
        let stack = DefaultStack::new(STACK)?;
        let coroutine =
            Coroutine::with_stack(stack, move |y: &Yielder<Reply, Op>, first: Reply| {
                inner.yielder.set(y as *const _);
                body(y, first, &program, &inner);
                inner.yielder.set(std::ptr::null());
            });
        Ok(Vu { coroutine, cell })
    }

    /// Runs the VU until it waits again; `None` once it has ended (after [`Reply::Exit`], or
    /// when its init context failed and it was resumed again).
    pub fn resume(&mut self, reply: Reply) -> Option<Op> {
        if self.coroutine.done() {
            return None;
        }
        match self.coroutine.resume(reply) {
            CoroutineResult::Yield(op) => Some(op),
            CoroutineResult::Return(()) => None,
        }
    }

    /// What the script reported since the last call.
    pub fn events(&self) -> Vec<Event> {
        std::mem::take(&mut *self.cell.events.borrow_mut())
    }

    /// The VU's id.
    pub fn id(&self) -> u64 {
        self.cell.exec.borrow().vu
    }
}

impl Drop for Vu {
    /// A VU always ends by returning from its coroutine, so that its runtime is freed on its
    /// own stack and no unwinding crosses QuickJS's frames.
    fn drop(&mut self) {
        while self.coroutine.started() && !self.coroutine.done() {
            self.cell.stopping.set(true);
            if let CoroutineResult::Return(()) = self.coroutine.resume(Reply::Exit) {
                break;
            }
        }
    }
}

/// The coroutine: init context, then one exported function call per [`Reply::Iterate`].
fn body(y: &Yielder<Reply, Op>, first: Reply, program: &Program, cell: &Rc<VuCell>) {
    if !matches!(first, Reply::Start) {
        return;
    }
    let rt = match new_runtime(program, cell) {
        Ok(rt) => rt,
        Err(e) => {
            y.suspend(Op::Ready(Err(e)));
            return;
        }
    };
    rt.set_max_stack_size(JS_STACK);
    let ctx = match Context::full(&rt) {
        Ok(c) => c,
        Err(e) => {
            y.suspend(Op::Ready(Err(ScriptError::plain(
                &program.entry,
                e.to_string(),
            ))));
            return;
        }
    };
    let exports = ctx.with(
        |ctx| -> Result<HashMap<String, Persistent<Function<'static>>>, ScriptError> {
            let module = evaluate(&ctx, program, cell)?;
            let ns = module.namespace().map_err(|e| error_of(&ctx, e, program))?;
            let mut out = HashMap::new();
            for name in &program.functions {
                if let Ok(f) = ns.get::<_, Function>(name.as_str()) {
                    out.insert(name.clone(), Persistent::save(&ctx, f));
                }
            }
            Ok(out)
        },
    );
    let exports = match exports {
        Ok(e) => e,
        Err(e) => {
            y.suspend(Op::Ready(Err(e)));
            return;
        }
    };
    let mut next = y.suspend(Op::Ready(Ok(())));
    let mut data: Option<(Arc<str>, Persistent<Value<'static>>)> = None;
    while let Reply::Iterate(exec) = next {
        cell.stopping.set(false);
        cell.start_iteration(&exec.function);
        let function = exec.function.clone();
        let given = exec.data.clone();
        *cell.exec.borrow_mut() = exec;
        let result = ctx.with(|ctx| call(&ctx, program, &exports, &function, given, &mut data));
        next = y.suspend(Op::Done(result));
    }
    drop(data);
    drop(exports);
}

/// Calls an exported function with `setup()`'s data (parsed once per VU); its result as JSON.
fn call(
    ctx: &Ctx<'_>,
    program: &Program,
    exports: &HashMap<String, Persistent<Function<'static>>>,
    function: &str,
    given: Option<Arc<str>>,
    data: &mut Option<(Arc<str>, Persistent<Value<'static>>)>,
) -> Result<Option<String>, ScriptError> {
    let f = exports
        .get(function)
        .ok_or_else(|| {
            ScriptError::plain(
                &program.entry,
                format!("the script exports no function {function}"),
            )
        })?
        .clone()
        .restore(ctx)
        .map_err(|e| error_of(ctx, e, program))?;
    let arg: Value = match given {
        None => Value::new_undefined(ctx.clone()),
        Some(json) => {
            let fresh = data
                .as_ref()
                .is_none_or(|(seen, _)| !Arc::ptr_eq(seen, &json));
            if fresh {
                let v = ctx
                    .json_parse(json.as_bytes().to_vec())
                    .map_err(|e| error_of(ctx, e, program))?;
                *data = Some((json.clone(), Persistent::save(ctx, v)));
            }
            let (_, v) = data.as_ref().expect("set above");
            v.clone()
                .restore(ctx)
                .map_err(|e| error_of(ctx, e, program))?
        }
    };
    let globals = ctx.globals();
    let clear: Function = globals
        .get("__clearTimers")
        .map_err(|e| error_of(ctx, e, program))?;
    clear
        .call::<_, ()>(())
        .map_err(|e| error_of(ctx, e, program))?;
    let out: Value = f.call((arg,)).map_err(|e| error_of(ctx, e, program))?;
    let out = event_loop(ctx, program, out)?;
    if out.is_undefined() || out.is_function() {
        return Ok(None);
    }
    let text = ctx
        .json_stringify(out)
        .map_err(|e| error_of(ctx, e, program))?
        .map(|s| s.to_string())
        .transpose()
        .map_err(|e| error_of(ctx, e, program))?;
    Ok(text)
}

/// What runs after the function returned, as k6's event loop: promise jobs, then each timer
/// when it is due (the VU sleeps until then), until none is left; a returned promise's value
/// (an `async` function) once it settled.
fn event_loop<'js>(
    ctx: &Ctx<'js>,
    program: &Program,
    out: Value<'js>,
) -> Result<Value<'js>, ScriptError> {
    let run_timer: Function = ctx
        .globals()
        .get("__runTimer")
        .map_err(|e| error_of(ctx, e, program))?;
    loop {
        while ctx.execute_pending_job() {}
        let ran: bool = run_timer.call(()).map_err(|e| error_of(ctx, e, program))?;
        if !ran {
            break;
        }
    }
    let Some(promise) = out.as_promise() else {
        return Ok(out);
    };
    match promise.state() {
        rquickjs::promise::PromiseState::Resolved => promise
            .result::<Value>()
            .unwrap_or(Ok(Value::new_undefined(ctx.clone())))
            .map_err(|e| error_of(ctx, e, program)),
        rquickjs::promise::PromiseState::Rejected => match promise.result::<Value>() {
            Some(Err(e)) => Err(error_of(ctx, e, program)),
            _ => Err(ScriptError::plain(
                &program.entry,
                "the function's promise was rejected",
            )),
        },
        rquickjs::promise::PromiseState::Pending => Err(ScriptError::plain(
            &program.entry,
            "the function's promise never settled (nothing was left to wait for)",
        )),
    }
}

/// Evaluates the script's init context in `ctx`: the globals, then the entry module.
pub(super) fn evaluate<'js>(
    ctx: &Ctx<'js>,
    program: &Program,
    cell: &Rc<VuCell>,
) -> Result<Module<'js, Evaluated>, ScriptError> {
    cell.in_init.set(true);
    install(ctx, cell).map_err(|e| error_of(ctx, e, program))?;
    let text = program
        .sources
        .read(std::path::Path::new(&program.entry))
        .map_err(|e| ScriptError::plain(&program.entry, e))?;
    let declared = Module::declare(ctx.clone(), program.entry.as_str(), text)
        .map_err(|e| error_of(ctx, e, program))?;
    let (module, promise) = declared.eval().map_err(|e| error_of(ctx, e, program))?;
    promise
        .finish::<()>()
        .map_err(|e| error_of(ctx, e, program))?;
    cell.in_init.set(false);
    Ok(module)
}
