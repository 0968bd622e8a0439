//! JUnit XML for CI systems: one test suite per plan, one test case per threshold and per
//! check (grouped by workload when the plan has several), and one for the run's validity. A failure says what was expected and what was
//! measured.

use super::summary::Summary;
use crate::judge::Verdict;
use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;
use std::io;

struct Case {
    class: String,
    name: String,
    failure: Option<String>,
}

fn cases(s: &Summary) -> Vec<Case> {
    let mut out = Vec::new();
    for t in &s.thresholds {
        let measured = t.observed_text().unwrap_or_else(|| "no samples".into());
        let failure = match t.verdict {
            Verdict::Pass => None,
            Verdict::Fail => Some(format!(
                "expected {} {}, measured {measured}",
                t.metric, t.expr
            )),
            Verdict::NoData => Some(format!(
                "expected {} {}, but the metric had no samples (no data never passes)",
                t.metric, t.expr
            )),
        };
        out.push(Case {
            class: format!("{}.thresholds", s.plan),
            name: format!("{}: {}", t.metric, t.expr),
            failure,
        });
    }
    for r in &s.requests {
        for c in &r.checks {
            let failure = (c.failed > 0).then(|| {
                format!(
                    "expected every response to pass; {} of {} failed",
                    c.failed,
                    c.passed + c.failed
                )
            });
            // With several workloads, checks are grouped by the workload that ran them.
            let plan = match s
                .workloads
                .iter()
                .find(|w| w.scenarios.contains(&r.scenario))
            {
                Some(w) => format!("{}.{}", s.plan, w.name),
                None => s.plan.clone(),
            };
            out.push(Case {
                class: format!("{plan}.checks.{}.{}", r.scenario, r.name),
                name: c.name.clone(),
                failure,
            });
        }
    }
    // A script's checks, of no one request.
    for c in &s.checks {
        out.push(Case {
            class: format!("{}.checks.{}", s.plan, c.scenario),
            name: c.name.clone(),
            failure: (c.failed > 0).then(|| {
                format!(
                    "expected every check to pass; {} of {} failed",
                    c.failed,
                    c.passed + c.failed
                )
            }),
        });
    }
    let failure = (!s.validity.is_valid()).then(|| {
        format!(
            "expected the generator to keep its schedule; {}",
            s.validity.reasons.join("; ")
        )
    });
    out.push(Case {
        class: format!("{}.run", s.plan),
        name: "generator kept its schedule".into(),
        failure,
    });
    out
}

/// Writes one `<testsuite>` per summary inside `<testsuites>`.
pub fn render(summaries: &[&Summary]) -> io::Result<String> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let all: Vec<(&Summary, Vec<Case>)> = summaries.iter().map(|s| (*s, cases(s))).collect();
    let tests: usize = all.iter().map(|(_, c)| c.len()).sum();
    let failures: usize = all
        .iter()
        .map(|(_, c)| c.iter().filter(|c| c.failure.is_some()).count())
        .sum();
    w.create_element("testsuites")
        .with_attributes([
            ("name", "loadpacer"),
            ("tests", tests.to_string().as_str()),
            ("failures", failures.to_string().as_str()),
        ])
        .write_inner_content(|w| {
            for (s, cases) in &all {
                let fails = cases
                    .iter()
                    .filter(|c| c.failure.is_some())
                    .count()
                    .to_string();
                w.create_element("testsuite")
                    .with_attributes([
                        ("name", s.plan.as_str()),
                        ("tests", cases.len().to_string().as_str()),
                        ("failures", fails.as_str()),
                        ("errors", "0"),
                        ("time", format!("{:.3}", s.duration_s).as_str()),
                        ("timestamp", s.started_at.as_str()),
                    ])
                    .write_inner_content(|w| {
                        for c in cases {
                            let el = w.create_element("testcase").with_attributes([
                                ("classname", c.class.as_str()),
                                ("name", c.name.as_str()),
                            ]);
                            match &c.failure {
                                None => {
                                    el.write_empty()?;
                                }
                                Some(msg) => {
                                    el.write_inner_content(|w| {
                                        w.create_element("failure")
                                            .with_attributes([
                                                ("message", msg.as_str()),
                                                ("type", "loadpacer"),
                                            ])
                                            .write_text_content(BytesText::new(msg))?;
                                        Ok(())
                                    })?;
                                }
                            }
                        }
                        Ok(())
                    })?;
            }
            Ok(())
        })?;
    Ok(String::from_utf8(w.into_inner()).expect("the writer only writes UTF-8"))
}
