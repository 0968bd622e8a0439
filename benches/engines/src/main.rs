//! Scratch measurement: rquickjs (QuickJS-NG) vs boa_engine on a k6-style iteration.
use std::time::Instant;

const SCRIPT: &str = r#"
const data = { users: [1,2,3,4,5,6,7,8,9,10].map(i => ({ id: i, name: 'user' + i })) };
export default function () {
  const u = data.users[Math.floor(Math.random() * data.users.length)];
  const res = http.get('http://127.0.0.1:8080/users/' + u.id, { tags: { name: 'user' } });
  check(res, {
    'status is 200': (r) => r.status === 200,
    'body has id': (r) => r.body.indexOf('id') >= 0,
  });
}
"#;

const PRELUDE: &str = r#"
globalThis.check = function (v, sets) { let ok = true; for (const k in sets) { if (!sets[k](v)) ok = false; } return ok; };
"#;

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines().find(|l| l.starts_with("VmRSS")).unwrap().split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn cpu_secs() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let f: Vec<&str> = s.rsplit(')').next().unwrap().split_whitespace().collect();
    let t: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    t as f64 / 100.0
}

mod qjs {
    use rquickjs::{Context, Function, Module, Object, Runtime, Value};
    pub struct Vu { pub rt: Runtime, pub ctx: Context }
    pub fn vu() -> Vu {
        let rt = Runtime::new().unwrap();
        rt.set_memory_limit(64 << 20);
        vu_in(rt)
    }
    pub fn vu_in(rt: Runtime) -> Vu {
        let ctx = Context::full(&rt).unwrap();
        ctx.with(|ctx| {
            let http = Object::new(ctx.clone()).unwrap();
            http.set("get", Function::new(ctx.clone(), get).unwrap()).unwrap();
            ctx.globals().set("http", http).unwrap();
            ctx.eval::<(), _>(super::PRELUDE).unwrap();
            let m = Module::declare(ctx.clone(), "script.js", super::SCRIPT).unwrap();
            let (m, p) = m.eval().unwrap();
            p.finish::<()>().unwrap();
            let f: Function = m.get("default").unwrap();
            ctx.globals().set("__default", f).unwrap();
        });
        Vu { rt, ctx }
    }
    fn get<'js>(ctx: rquickjs::Ctx<'js>, url: String, _p: rquickjs::function::Opt<Value<'js>>) -> rquickjs::Result<Object<'js>> {
        let o = Object::new(ctx)?;
        o.set("status", 200)?;
        o.set("body", format!("{{\"id\": 1, \"url\": \"{url}\"}}"))?;
        Ok(o)
    }
    pub fn iterate(v: &Vu) {
        v.ctx.with(|ctx| {
            let f: Function = ctx.globals().get("__default").unwrap();
            f.call::<_, ()>(()).unwrap();
        });
    }
}

mod boa {
    use boa_engine::{js_string, Context, JsValue, Module, NativeFunction, Source, object::ObjectInitializer, property::Attribute, builtins::promise::PromiseState, JsObject};
    pub struct Vu { pub ctx: Context, pub f: JsObject }
    pub fn vu() -> Vu {
        let mut ctx = Context::default();
        let get = NativeFunction::from_fn_ptr(|_, args, ctx| {
            let url = args.get(0).cloned().unwrap_or_default().to_string(ctx)?.to_std_string_escaped();
            let o = ObjectInitializer::new(ctx)
                .property(js_string!("status"), 200, Attribute::all())
                .property(js_string!("body"), js_string!(format!("{{\"id\": 1, \"url\": \"{url}\"}}")), Attribute::all())
                .build();
            Ok(o.into())
        });
        let http = ObjectInitializer::new(&mut ctx).function(get, js_string!("get"), 2).build();
        ctx.register_global_property(js_string!("http"), http, Attribute::all()).unwrap();
        ctx.eval(Source::from_bytes(super::PRELUDE)).unwrap();
        let m = Module::parse(Source::from_bytes(super::SCRIPT), None, &mut ctx).unwrap();
        let p = m.load_link_evaluate(&mut ctx);
        ctx.run_jobs().unwrap();
        assert!(matches!(p.state(), PromiseState::Fulfilled(_)));
        let f = m.namespace(&mut ctx).get(js_string!("default"), &mut ctx).unwrap();
        Vu { f: f.as_object().unwrap().clone(), ctx }
    }
    pub fn iterate(v: &mut Vu) {
        v.f.call(&JsValue::undefined(), &[], &mut v.ctx).unwrap();
    }
}

fn main() {
    let which = std::env::args().nth(1).unwrap();
    let what = std::env::args().nth(2).unwrap();
    let n: usize = std::env::args().nth(3).unwrap().parse().unwrap();
    match (which.as_str(), what.as_str()) {
        ("qjs", "startup") => { let t = Instant::now(); let v = qjs::vu(); println!("qjs start-up per VU: {:.2} ms", t.elapsed().as_secs_f64() * 1e3); drop(v); }
        ("boa", "startup") => { let t = Instant::now(); let v = boa::vu(); println!("boa start-up per VU: {:.2} ms", t.elapsed().as_secs_f64() * 1e3); drop(v); }
        ("qjs", "mem") => { let r0 = rss_kib(); let t = Instant::now(); let vs: Vec<_> = (0..n).map(|_| qjs::vu()).collect(); for v in &vs { qjs::iterate(v); } let r1 = rss_kib(); println!("qjs {n} VUs: {:.1} KiB per VU, {:.2} ms per VU start", (r1 - r0) as f64 / n as f64, t.elapsed().as_secs_f64()*1e3 / n as f64); }
        ("qjs1", "mem") => { let r0 = rss_kib(); let rt = rquickjs::Runtime::new().unwrap(); let vs: Vec<_> = (0..n).map(|_| qjs::vu_in(rt.clone())).collect(); for v in &vs { qjs::iterate(v); } let r1 = rss_kib(); println!("qjs shared runtime {n} VUs: {:.1} KiB per VU", (r1 - r0) as f64 / n as f64); }
        ("coro", "mem") => {
            use corosensei::{Coroutine, stack::DefaultStack};
            let r0 = rss_kib();
            let mut cs: Vec<_> = (0..n).map(|_| Coroutine::with_stack(DefaultStack::new(256 * 1024).unwrap(), |y: &corosensei::Yielder<(), ()>, ()| { let v = qjs::vu(); qjs::iterate(&v); y.suspend(()); drop(v); })).collect();
            for c in &mut cs { c.resume(()); }
            let r1 = rss_kib(); println!("qjs VU on a coroutine with its own runtime, {n} VUs: {:.1} KiB per VU", (r1 - r0) as f64 / n as f64);
            for c in &mut cs { c.resume(()); }
        }
        ("rt", "mem") => { let r0 = rss_kib(); let vs: Vec<_> = (0..n).map(|_| rquickjs::Runtime::new().unwrap()).collect(); let r1 = rss_kib(); println!("runtime only: {:.1} KiB", (r1 - r0) as f64 / n as f64); drop(vs); }
        ("base", "mem") => { let r0 = rss_kib(); let vs: Vec<_> = (0..n).map(|_| { let rt = rquickjs::Runtime::new().unwrap(); let c = rquickjs::Context::base(&rt).unwrap(); (rt, c) }).collect(); let r1 = rss_kib(); println!("runtime+base ctx: {:.1} KiB", (r1 - r0) as f64 / n as f64); drop(vs); }
        ("full", "mem") => { let r0 = rss_kib(); let vs: Vec<_> = (0..n).map(|_| { let rt = rquickjs::Runtime::new().unwrap(); let c = rquickjs::Context::full(&rt).unwrap(); (rt, c) }).collect(); let r1 = rss_kib(); println!("runtime+full ctx: {:.1} KiB", (r1 - r0) as f64 / n as f64); drop(vs); }
        ("boa", "mem") => { let r0 = rss_kib(); let t = Instant::now(); let mut vs: Vec<_> = (0..n).map(|_| boa::vu()).collect(); for v in &mut vs { boa::iterate(v); } let r1 = rss_kib(); println!("boa {n} VUs: {:.1} KiB per VU, {:.2} ms per VU start", (r1 - r0) as f64 / n as f64, t.elapsed().as_secs_f64()*1e3 / n as f64); }
        ("qjs", "cpu") => { let v = qjs::vu(); let c = cpu_secs(); for _ in 0..n { qjs::iterate(&v); } println!("qjs: {:.2} us CPU per iteration", (cpu_secs() - c) * 1e6 / n as f64); }
        ("boa", "cpu") => { let mut v = boa::vu(); let c = cpu_secs(); for _ in 0..n { boa::iterate(&mut v); } println!("boa: {:.2} us CPU per iteration", (cpu_secs() - c) * 1e6 / n as f64); }
        _ => panic!(),
    }
}
