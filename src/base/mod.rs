//! Small pieces every layer may use: fault injection for tests, signals, the time limit of
//! each kind of command, logging.

pub mod failpoint;
pub mod interrupt;
pub mod logging;
pub mod parallel;
pub mod timeouts;
