//! The live view of a run in progress: `GET /api/v1/runs/{id}/live` (Server-Sent Events: a
//! `window` event a second with the run's snapshot, then one `end` event with its stored
//! status) and `GET /live/{id}` (a page that shows them, with a cancel button that sends the
//! token the user types, never keeps it). Without JavaScript the page reloads itself.

use super::pages::{page_error, page_with_head};
use super::{error, valid_id, Ctx};
use crate::app::Snapshot;
use crate::report::html::esc;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use std::convert::Infallible;
use std::fmt::Write;
use std::sync::Arc;
use tokio::sync::watch;

/// Event streams served at once; more get 503 (each holds a connection for the run).
pub(super) const MAX_LIVE_STREAMS: usize = 32;

/// Windows listed on the page, newest first.
const SHOWN_WINDOWS: usize = 10;

/// `GET /api/v1/runs/{id}/live`.
pub(super) async fn events(State(ctx): State<Ctx>, Path(id): Path<String>) -> Response {
    if !valid_id(&id) {
        return error(StatusCode::BAD_REQUEST, "run ids are UUIDs");
    }
    let Some(rx) = ctx.app.watch_run(&id) else {
        return error(
            StatusCode::NOT_FOUND,
            format!("no run in progress with this id; a finished run is at /api/v1/runs/{id}"),
        );
    };
    let Ok(permit) = ctx.live_streams.clone().try_acquire_owned() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many live views open; close one or read /api/v1/runs",
        );
    };
    let shutdown = ctx.app.shutdown_signal();
    /// Where the event stream is: the run's snapshots, and whether the end was sent.
    struct Follow {
        rx: watch::Receiver<Arc<Snapshot>>,
        first: bool,
        done: bool,
        _permit: tokio::sync::OwnedSemaphorePermit,
    }
    let start = Follow {
        rx,
        first: true,
        done: false,
        _permit: permit,
    };
    let stream = futures_util::stream::unfold(start, move |mut st| {
        let shutdown = shutdown.clone();
        async move {
            if st.done {
                return None;
            }
            if !st.first {
                tokio::select! {
                    changed = st.rx.changed() => changed.ok()?,
                    _ = shutdown.cancelled() => return None,
                }
            }
            st.first = false;
            let snap = st.rx.borrow_and_update().clone();
            st.done = snap.finished.is_some();
            let event = Event::default()
                .event(if st.done { "end" } else { "window" })
                .json_data(&*snap)
                .ok()?;
            Some((Ok::<_, Infallible>(event), st))
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn rate(s: &Snapshot) -> (String, String) {
    let target = if s.model == crate::config::LoadModel::Open {
        format!("{:.1}/s", s.target)
    } else {
        format!("{:.0} VUs", s.target)
    };
    (target, format!("{:.1}/s", s.achieved_rps))
}

fn errors(s: &Snapshot) -> String {
    if s.requests == 0 {
        s.errors.to_string()
    } else {
        format!(
            "{} ({:.2} %)",
            s.errors,
            s.errors as f64 * 100.0 / s.requests as f64
        )
    }
}

/// `GET /live/{id}`: the run as it goes; a finished run redirects to its report.
pub(super) async fn page(State(ctx): State<Ctx>, Path(id): Path<String>) -> Response {
    if !valid_id(&id) {
        return page_error(StatusCode::BAD_REQUEST, "run ids are UUIDs");
    }
    let Some(rx) = ctx.app.watch_run(&id) else {
        return match ctx.app.store().get(&id) {
            Ok(Some(_)) => Redirect::to(&format!("/runs/{id}")).into_response(),
            Ok(None) => page_error(StatusCode::NOT_FOUND, "no run with this id"),
            Err(e) => page_error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
        };
    };
    let s = rx.borrow().clone();
    let (target, achieved) = rate(&s);
    let token = ctx.app.config().server.token.is_some();
    let mut b = String::new();
    let _ = write!(
        b,
        "<p><a href=\"/plans/{plan}\">{plan}</a> · phase <b id=\"phase\">{}</b> · <span id=\"elapsed\">{:.0}</span> s of <span id=\"scheduled\">{:.0}</span> s · updated <span id=\"updated\"></span> <span id=\"conn\"></span></p>\
         <div class=\"scroll\"><table id=\"live-now\"><tr><th>target</th><td id=\"target\">{target}</td></tr><tr><th>achieved</th><td id=\"achieved\">{achieved}</td></tr>\
         <tr><th>in flight</th><td id=\"in-flight\">{}</td></tr><tr><th>requests</th><td id=\"requests\">{}</td></tr><tr><th>errors</th><td id=\"errors\">{}</td></tr></table></div>\
         <h2>Last windows</h2><div class=\"scroll\"><table id=\"windows\"><thead><tr><th>at</th><th>req/s</th><th>p50</th><th>p95</th><th>p99</th><th>errors</th></tr></thead><tbody id=\"window-rows\">",
        esc(s.phase.as_deref().unwrap_or("–")),
        s.elapsed_s,
        s.scheduled_s,
        s.in_flight,
        s.requests,
        errors(&s),
        plan = esc(&s.plan),
    );
    for w in s.windows.iter().rev().take(SHOWN_WINDOWS) {
        let ms = |v: f64| {
            if w.requests == 0 {
                "–".to_string()
            } else {
                format!("{v:.1} ms")
            }
        };
        let _ = write!(
            b,
            "<tr><td>{:.0} s</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            w.t_s,
            w.requests as f64 / w.width_s.max(1e-9),
            ms(w.p50_ms),
            ms(w.p95_ms),
            ms(w.p99_ms),
            w.errors
        );
    }
    let _ = write!(
        b,
        "</tbody></table></div><p id=\"finished\" hidden>Finished: <b id=\"result\"></b> · <a href=\"/runs/{id}\">the report</a></p>\
         <form id=\"cancel\" method=\"post\" action=\"/api/v1/runs/{id}/cancel\">{}<button>Cancel this run</button></form><p id=\"cancel-result\"></p>\
         <script>{SCRIPT}</script>",
        if token {
            "<label>API token <input id=\"token\" type=\"password\" autocomplete=\"off\"></label> "
        } else {
            ""
        }
    );
    let mut r = page_with_head(
        &format!("Live: {}", s.plan),
        "<noscript><meta http-equiv=\"refresh\" content=\"3\"></noscript>",
        &format!("<div data-run=\"{}\" id=\"live\">{b}</div>", esc(&id)),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, "no-store".parse().unwrap());
    r
}

/// Applies each event to the page with `textContent` only (no markup from the stream).
const SCRIPT: &str = r#"(function(){
var root=document.getElementById('live'),id=root.dataset.run;
function set(k,v){document.getElementById(k).textContent=v;}
function f(v,d){return Number(v).toFixed(d);}
function show(s){
 set('phase',s.phase||'–');set('elapsed',f(s.elapsed_s,0));set('scheduled',f(s.scheduled_s,0));
 set('target',s.model==='open'?f(s.target,1)+'/s':f(s.target,0)+' VUs');set('achieved',f(s.achieved_rps,1)+'/s');
 set('in-flight',s.in_flight);set('requests',s.requests);
 set('errors',s.requests?s.errors+' ('+f(100*s.errors/s.requests,2)+' %)':s.errors);
 var tb=document.getElementById('window-rows');tb.replaceChildren();
 s.windows.slice(-10).reverse().forEach(function(w){
  var ms=function(v){return w.requests?f(v,1)+' ms':'–';},tr=document.createElement('tr');
  [f(w.t_s,0)+' s',f(w.requests/Math.max(w.width_s,1e-9),1),ms(w.p50_ms),ms(w.p95_ms),ms(w.p99_ms),w.errors].forEach(function(t){
   var td=document.createElement('td');td.textContent=t;tr.appendChild(td);});
  tb.appendChild(tr);});
 set('updated',new Date().toLocaleTimeString());set('conn','');
}
var es=new EventSource('/api/v1/runs/'+id+'/live');
es.addEventListener('window',function(e){show(JSON.parse(e.data));});
es.addEventListener('end',function(e){var s=JSON.parse(e.data);show(s);es.close();
 set('result',s.finished);document.getElementById('finished').hidden=false;document.getElementById('cancel').hidden=true;});
es.onerror=function(){set('conn','(connection lost; retrying)');};
document.getElementById('cancel').addEventListener('submit',function(e){
 e.preventDefault();var h={},t=document.getElementById('token');
 if(t&&t.value){h.Authorization='Bearer '+t.value;}
 fetch(this.action,{method:'POST',headers:h}).then(function(r){return r.json().then(function(j){
  set('cancel-result',r.ok?'Cancelling: the run stops gracefully and is stored as interrupted.':'Not cancelled: '+(j.error||r.status));});});
});
})();"#;
