//! A Server-Sent Events step: where the stream is, how long it is held, and the conditions
//! on its events, each located when it is wrong.

use super::StepCompiler;
use crate::config::error::Collector;
use crate::config::raw::{RawEventMatch, RawSse, RawStep};
use crate::config::rules::{duration, require_name};
use crate::config::{CheckKind, EventMatch, SseSpec, StreamKey};
use std::time::Duration;

impl StepCompiler<'_> {
    pub(super) fn sse(
        &mut self,
        c: &mut Collector,
        scenario: &str,
        e: &RawSse,
        st: &RawStep,
        sp: &str,
    ) -> Option<SseSpec> {
        let ep = format!("{sp}.sse");
        let at = e.name.referenced;
        require_name(c, &e.name, &format!("{ep}.name"));
        if st.check.is_some() || !st.capture.is_empty() {
            c.at(
                &at,
                sp,
                "check and capture belong to a request step; in an sse step use its own `check` and `until` (with `capture`)",
            );
        }
        let (path, query, headers) = self.stream_target(c, &e.path, &e.query, &e.headers, &at, &ep);
        let timeout = e
            .timeout
            .as_ref()
            .and_then(|t| duration(c, t, &format!("{ep}.timeout"), Duration::from_millis(1)));
        let held = duration(
            c,
            &e.duration,
            &format!("{ep}.duration"),
            Duration::from_millis(1),
        );
        let events = match &e.events {
            Some(n) if n.value == 0 => {
                c.at(
                    &n.referenced,
                    &format!("{ep}.events"),
                    "0 must be greater than zero",
                );
                None
            }
            other => other.as_ref().map(|n| n.value),
        };
        let index = self.streams.len();
        self.streams.push(StreamKey {
            scenario: scenario.to_string(),
            name: e.name.value.clone(),
            protocol: "sse",
        });
        self.stream_grades.push(crate::config::grades::grade_bands(
            c,
            e.grades.as_ref(),
            &format!("{ep}.grades"),
        ));
        let until = e
            .until
            .as_ref()
            .map(|m| self.event_match(c, scenario, &e.name.value, m, &format!("{ep}.until"), true));
        let check = e.check.as_ref().map(|m| {
            self.event_match(c, scenario, &e.name.value, m, &format!("{ep}.check"), false)
        });
        if let Some(m) = e.check.as_ref().filter(|m| !m.capture.is_empty()) {
            let loc = m.capture.values().next().map_or(at, |v| v.referenced);
            let why = "capture from the event that ends the stream: put it under `until`";
            c.at(&loc, &format!("{ep}.check.capture"), why);
        }
        Some(SseSpec {
            index,
            name: e.name.value.clone(),
            path: path?,
            query,
            headers,
            timeout,
            duration: held?,
            events,
            until,
            check,
            reconnect: e.reconnect.as_ref().map(|r| r.value).unwrap_or(3),
        })
    }

    fn event_match(
        &mut self,
        c: &mut Collector,
        scenario: &str,
        step: &str,
        m: &RawEventMatch,
        mp: &str,
        with_captures: bool,
    ) -> EventMatch {
        let what = if with_captures {
            "until"
        } else {
            "every event"
        };
        let mut kinds = self.content_kinds(c, &m.json, &m.contains, &m.equals, &m.regex, mp);
        if kinds.is_empty() {
            let label = match &m.event {
                Some(t) => format!("{what}: an event of type {:?}", t.value),
                None => format!("{what}: an event"),
            };
            kinds.push((label, CheckKind::BodyContains(String::new())));
        } else {
            for k in &mut kinds {
                k.0 = format!("{what}: {}", k.0);
            }
        }
        let matchers = self.register_checks(scenario, step, kinds);
        let captures = if with_captures {
            self.message_captures(c, &m.capture, mp)
        } else {
            Vec::new()
        };
        EventMatch {
            event: m.event.as_ref().map(|t| t.value.clone()),
            matchers,
            captures,
        }
    }
}
