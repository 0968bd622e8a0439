//! What a run produces for people and programs: the versioned summary and the console views.

pub mod chart;
pub mod console;
pub mod escape;
pub mod html;
pub mod junit;
pub mod k6;
pub mod markdown;
pub mod merge;
pub mod summary;

pub use summary::{Outcome, Summary, SCHEMA_VERSION};
