//! A WebSocket session step: where it connects, and its actions (send, expect, ping, hold,
//! close), each located when it is wrong.

use super::StepCompiler;
use crate::config::error::Collector;
use crate::config::raw::{RawExpect, RawHold, RawStep, RawWs, RawWsAction, S};
use crate::config::rules::{duration, require_name};
use crate::config::{
    CaptureSpec, CheckKind, ExpectSpec, HoldSpec, Payload, StreamKey, WsAction, WsSpec,
};
use serde_saphyr::Location;
use std::collections::BTreeMap;
use std::time::Duration;

impl StepCompiler<'_> {
    pub(super) fn ws(
        &mut self,
        c: &mut Collector,
        scenario: &str,
        w: &RawWs,
        st: &RawStep,
        sp: &str,
    ) -> Option<WsSpec> {
        let wp = format!("{sp}.ws");
        let at = w.name.referenced;
        require_name(c, &w.name, &format!("{wp}.name"));
        if st.check.is_some() || !st.capture.is_empty() {
            c.at(
                &at,
                sp,
                "check and capture belong to a request step; in a ws step use an `expect` action with its own json/regex/capture",
            );
        }
        let (path, query, headers) = self.stream_target(c, &w.path, &w.query, &w.headers, &at, &wp);
        let subprotocols = w
            .subprotocols
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let ok = !p.value.is_empty()
                    && p.value.bytes().all(|b| b.is_ascii_graphic() && b != b',');
                if !ok {
                    c.at(
                        &p.referenced,
                        &format!("{wp}.subprotocols[{i}]"),
                        format!("{:?} must be a subprotocol token (printable ASCII, no spaces or commas)", p.value),
                    );
                }
                ok.then(|| p.value.clone())
            })
            .collect();
        let timeout = w
            .timeout
            .as_ref()
            .and_then(|t| duration(c, t, &format!("{wp}.timeout"), Duration::from_millis(1)));
        let index = self.streams.len();
        self.streams.push(StreamKey {
            scenario: scenario.to_string(),
            name: w.name.value.clone(),
            protocol: "ws",
        });
        self.stream_grades.push(crate::config::grades::grade_bands(
            c,
            w.grades.as_ref(),
            &format!("{wp}.grades"),
        ));
        let mut actions = Vec::new();
        let mut closed = false;
        for (i, a) in w.actions.iter().enumerate() {
            let ap = format!("{wp}.actions[{i}]");
            if closed {
                c.at(
                    &a.referenced,
                    &ap,
                    "nothing can follow `close`: the session is closed",
                );
            }
            if let Some(action) =
                self.ws_action(c, scenario, &w.name.value, &a.value, &a.referenced, &ap)
            {
                closed |= matches!(action, WsAction::Close);
                actions.push(action);
            }
        }
        Some(WsSpec {
            index,
            name: w.name.value.clone(),
            path: path?,
            query,
            headers,
            subprotocols,
            timeout,
            actions,
        })
    }

    fn ws_action(
        &mut self,
        c: &mut Collector,
        scenario: &str,
        step: &str,
        a: &RawWsAction,
        at: &Location,
        ap: &str,
    ) -> Option<WsAction> {
        let set = [
            a.send.is_some(),
            a.send_json.is_some(),
            a.expect.is_some(),
            a.ping.is_some(),
            a.hold.is_some(),
            a.close.is_some(),
        ];
        if set.iter().filter(|s| **s).count() != 1 {
            c.at(
                at,
                ap,
                "an action has exactly one of `send`, `send_json`, `expect`, `ping`, `hold` or `close`",
            );
            return None;
        }
        if let Some(p) = self.payload(c, &a.send, &a.send_json, at, ap) {
            return Some(WsAction::Send(p));
        }
        if let Some(e) = &a.expect {
            return self.expect(c, scenario, step, e, at, &format!("{ap}.expect"));
        }
        if let Some(p) = &a.ping {
            let count = p.count.as_ref().map(|n| n.value).unwrap_or(1);
            if count == 0 {
                c.at(
                    at,
                    &format!("{ap}.ping.count"),
                    "0 must be greater than zero",
                );
            }
            return Some(WsAction::Ping {
                count: count.max(1),
            });
        }
        if let Some(h) = &a.hold {
            return self.hold(c, h, at, &format!("{ap}.hold"));
        }
        Some(WsAction::Close)
    }

    /// `send` (a text template) or `send_json` (a JSON template); `None` when neither is set.
    fn payload(
        &mut self,
        c: &mut Collector,
        text: &Option<S<String>>,
        json: &Option<serde_json::Value>,
        at: &Location,
        ap: &str,
    ) -> Option<Payload> {
        match (text, json) {
            (Some(t), _) => self
                .template(c, t, &format!("{ap}.send"))
                .map(Payload::Text),
            (None, Some(j)) => Some(Payload::Json(self.json_template(
                c,
                j,
                &format!("{ap}.send_json"),
                at,
            ))),
            (None, None) => None,
        }
    }

    fn expect(
        &mut self,
        c: &mut Collector,
        scenario: &str,
        step: &str,
        e: &RawExpect,
        at: &Location,
        ep: &str,
    ) -> Option<WsAction> {
        let timeout = match &e.timeout {
            Some(t) => duration(c, t, &format!("{ep}.timeout"), Duration::from_millis(1)),
            None => {
                c.at(at, &format!("{ep}.timeout"), "an expect needs a timeout, e.g. `timeout: 5s`: without a bound a silent server would hold the session forever");
                None
            }
        };
        let mut kinds = self.content_kinds(c, &e.json, &e.contains, &e.equals, &e.regex, ep);
        if kinds.is_empty() {
            kinds.push((
                "a message arrives".to_string(),
                crate::config::CheckKind::BodyContains(String::new()),
            ));
        }
        let matchers = self.register_checks(scenario, step, kinds);
        let captures = self.message_captures(c, &e.capture, ep);
        Some(WsAction::Expect(ExpectSpec {
            timeout: timeout?,
            next: e.next.unwrap_or(false),
            matchers,
            captures,
        }))
    }

    fn hold(
        &mut self,
        c: &mut Collector,
        h: &RawHold,
        at: &Location,
        hp: &str,
    ) -> Option<WsAction> {
        let d = duration(
            c,
            &h.duration,
            &format!("{hp}.duration"),
            Duration::from_millis(1),
        );
        let every = h
            .every
            .as_ref()
            .and_then(|e| duration(c, e, &format!("{hp}.every"), Duration::from_millis(1)));
        let payload = self.payload(c, &h.send, &h.send_json, at, hp);
        let every = match (every, payload, &h.every) {
            (Some(e), Some(p), _) => Some((e, p)),
            (None, None, None) => None,
            (_, None, Some(_)) => {
                c.at(
                    at,
                    hp,
                    "`every` sends a message: set `send` or `send_json` too",
                );
                None
            }
            (None, Some(_), None) => {
                c.at(at, hp, "`send` in a hold needs `every` (how often to send)");
                None
            }
            _ => None,
        };
        let ping_every = h
            .ping_every
            .as_ref()
            .and_then(|p| duration(c, p, &format!("{hp}.ping_every"), Duration::from_millis(1)));
        Some(WsAction::Hold(HoldSpec {
            duration: d?,
            every,
            ping_every,
        }))
    }

    /// Where a stream connects: its path (default `/`), query and headers, all templates.
    #[allow(clippy::type_complexity)]
    pub(super) fn stream_target(
        &mut self,
        c: &mut Collector,
        path: &Option<S<String>>,
        query: &BTreeMap<String, S<String>>,
        headers: &BTreeMap<String, S<String>>,
        at: &Location,
        prefix: &str,
    ) -> (
        Option<crate::config::Template>,
        Vec<(String, crate::config::Template)>,
        Vec<(http::HeaderName, crate::config::Template)>,
    ) {
        let path = match path {
            Some(p) => {
                if p.value.contains("://") {
                    c.at(&p.referenced, &format!("{prefix}.path"), format!("{:?} must be a path relative to the target's base_url (ad-hoc hosts are not allowed)", p.value));
                }
                self.template(c, p, &format!("{prefix}.path"))
            }
            None => self.template(
                c,
                &S {
                    value: "/".into(),
                    referenced: *at,
                    defined: *at,
                },
                &format!("{prefix}.path"),
            ),
        };
        let mut found = crate::config::template::Compiled::default();
        let headers = Self::headers(
            c,
            headers,
            &format!("{prefix}.headers"),
            self.env,
            &mut found,
        );
        self.absorb(found, at, &format!("{prefix}.headers"));
        let query = query
            .iter()
            .filter_map(|(k, v)| {
                Some((
                    k.clone(),
                    self.template(c, v, &format!("{prefix}.query.{k}"))?,
                ))
            })
            .collect();
        (path, query, headers)
    }

    /// Conditions on a message's text: JSONPath, contains, equals, regex.
    pub(super) fn content_kinds(
        &mut self,
        c: &mut Collector,
        json: &BTreeMap<String, S<serde_json::Value>>,
        contains: &Option<S<String>>,
        equals: &Option<S<String>>,
        regex: &Option<S<String>>,
        prefix: &str,
    ) -> Vec<(String, CheckKind)> {
        let mut kinds = self.json_kinds(c, json, &format!("{prefix}.json"));
        if let Some(t) = contains {
            kinds.push((
                format!("message contains {:?}", t.value),
                CheckKind::BodyContains(t.value.clone()),
            ));
        }
        if let Some(t) = equals {
            kinds.push((
                format!("message equals {:?}", t.value),
                CheckKind::BodyEquals(t.value.clone()),
            ));
        }
        if let Some(r) = regex {
            kinds.extend(self.regex_kind(c, r, &format!("{prefix}.regex"), "message"));
        }
        kinds
    }

    /// Captures from a message: a JSONPath or `regex:` (a message has no headers).
    pub(super) fn message_captures(
        &mut self,
        c: &mut Collector,
        capture: &BTreeMap<String, S<String>>,
        prefix: &str,
    ) -> Vec<CaptureSpec> {
        capture
            .iter()
            .filter_map(|(var, src)| {
                let cp = format!("{prefix}.capture.{var}");
                if src.value.trim().starts_with("header:") {
                    c.at(
                        &src.referenced,
                        &cp,
                        "a message has no headers; capture with a JSONPath ($.id) or regex:PATTERN",
                    );
                    return None;
                }
                self.capture(c, var, src, &cp)
            })
            .collect()
    }
}
