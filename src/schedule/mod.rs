//! When the daemon starts a scheduled run. [`on_wake`] is the pure decision taken on waking (a
//! suspend, a clock jump, a late wake-up), tested with an injected clock; [`drive`] is the
//! loop that sleeps on tokio's monotonic clock until each fire time and calls a trigger
//! function, tested under paused tokio time. The fire-time arithmetic itself belongs to the
//! schedule type (`config::Schedule`), because validation needs it too.

mod timer;
mod wake;

pub use timer::{drive, Clock, Events, Refused, WallClock};
pub use wake::{on_wake, Wake};
