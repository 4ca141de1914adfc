//! Fault injection for the crash tests: in debug builds, `CIPUG_FAILPOINT=<name>` makes the
//! process kill itself with SIGKILL when it reaches the point `<name>`. Release builds
//! compile this to nothing. (This is the one environment read outside `config`: it is test
//! machinery, not a setting.)

/// The points where a run can be killed, in the order an update reaches them.
pub const POINTS: &[&str] = &[
    "before-snapshot",
    "after-snapshot",
    "env-write",
    "after-env-write",
    "during-restart",
];

/// The points where a rollback can be killed, in the order it reaches them: before it stops
/// the service, once the failed state is kept, before and after `snapper undochange`, and
/// after the restored version was started (before its gate).
pub const ROLLBACK_POINTS: &[&str] = &[
    "rollback-started",
    "rollback-state-kept",
    "rollback-restoring",
    "rollback-restored",
    "rollback-restarted",
];

/// Kills the process if the failpoint `name` is armed.
#[inline]
pub fn hit(name: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("CIPUG_FAILPOINT").is_ok_and(|armed| armed == name) {
        log::error!("failpoint {name}: killing this run");
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}
