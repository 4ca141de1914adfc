//! Whether the services file system is nearly full: a snapshot taken then may fail, and so
//! may the snapshot of a failed state before a rollback (which goes on without it). Below
//! [`NEARLY_FULL_PERCENT`] free, `doctor` and `update` warn.

use std::path::Path;

/// Free space, in percent of the file system, below which it counts as nearly full.
pub const NEARLY_FULL_PERCENT: u64 = 5;

/// A warning when the file system holding `path` has less than [`NEARLY_FULL_PERCENT`]
/// free (for unprivileged users: available); `None` when there is room or it cannot be
/// told.
pub fn nearly_full(path: &Path) -> Option<String> {
    let stat = rustix::fs::statvfs(path).ok()?;
    let (free, total) = (stat.f_bavail, stat.f_blocks);
    below(free, total).then(|| {
        let unit = stat.f_frsize.max(1);
        format!(
            "the file system of {} is nearly full: {} MiB of {} MiB free ({}%); snapshots need room (a rollback then goes on without keeping the failed state)",
            path.display(),
            (free * unit) >> 20,
            (total * unit) >> 20,
            free * 100 / total.max(1)
        )
    })
}

/// Whether `free` of `total` blocks is below the threshold.
fn below(free: u64, total: u64) -> bool {
    total > 0 && free.saturating_mul(100) < total.saturating_mul(NEARLY_FULL_PERCENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold() {
        assert!(below(4, 100));
        assert!(!below(5, 100));
        assert!(!below(0, 0), "unknown");
        assert!(nearly_full(Path::new("/nonexistent/x")).is_none());
    }
}
