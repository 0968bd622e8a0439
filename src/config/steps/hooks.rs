//! What a step asks of the plan's processor (`function` steps, a request's `before_request`
//! and `after_response`), and the captures a step requires.

use super::{Hooks, StepCompiler, StepSpec};
use crate::config::error::Collector;
use crate::config::raw::{RawRequest, RawStep, S};
use crate::config::CaptureSpec;

impl StepCompiler<'_> {
    /// A `function` step: nothing else in the step.
    pub(super) fn function_step(
        &mut self,
        c: &mut Collector,
        st: &RawStep,
        f: &S<String>,
        at: &serde_saphyr::Location,
        sp: &str,
    ) -> Option<StepSpec> {
        let others = [
            st.request.is_some(),
            st.think.is_some(),
            st.ws.is_some(),
            st.sse.is_some(),
            st.repeat.is_some(),
            !st.parallel.is_empty(),
        ];
        if others.contains(&true) {
            c.at(at, sp, "a step has exactly one of `request`, `think`, `ws`, `sse`, `repeat`, `parallel` or `function`");
            return None;
        }
        let f = self.processor_function(c, f, &format!("{sp}.function"))?;
        Some(StepSpec::Function(f))
    }

    /// A request's `before_request` and `after_response` functions.
    pub(super) fn hooks(&mut self, c: &mut Collector, r: &RawRequest, rp: &str) -> Hooks {
        let mut hooks = Hooks::default();
        for (field, list, into) in [
            ("before_request", &r.before_request, &mut hooks.before),
            ("after_response", &r.after_response, &mut hooks.after),
        ] {
            for (i, f) in list.iter().enumerate() {
                into.extend(self.processor_function(c, f, &format!("{rp}.{field}[{i}]")));
            }
        }
        hooks
    }

    /// A processor function's name, checked against what the plan's processor exports.
    fn processor_function(
        &mut self,
        c: &mut Collector,
        f: &S<String>,
        path: &str,
    ) -> Option<String> {
        self.calls_processor = true;
        match &self.processor {
            Err(true) => None,
            Err(false) => {
                c.at(&f.referenced, path, format!("calls the processor function {:?}, but the plan has no `processor:` (a JavaScript file of functions)", f.value));
                None
            }
            Ok((file, exported)) if !exported.contains(&f.value) => {
                c.at(
                    &f.referenced,
                    path,
                    format!(
                        "{:?} is not a function that {file} exports (it exports: {})",
                        f.value,
                        if exported.is_empty() {
                            "none".to_string()
                        } else {
                            exported.join(", ")
                        }
                    ),
                );
                None
            }
            Ok(_) => Some(f.value.clone()),
        }
    }
}

/// Marks the captures `require` names; a name that is not a capture of the step is an error.
pub(super) fn required_captures(
    c: &mut Collector,
    mut captures: Vec<CaptureSpec>,
    require: &[S<String>],
    path: &str,
) -> Vec<CaptureSpec> {
    for (i, name) in require.iter().enumerate() {
        match captures.iter_mut().find(|cap| cap.var == name.value) {
            Some(cap) => cap.required = true,
            None => c.at(
                &name.referenced,
                &format!("{path}[{i}]"),
                format!(
                    "{:?} is not captured by this step; `require` names its `capture` variables",
                    name.value
                ),
            ),
        }
    }
    captures
}
