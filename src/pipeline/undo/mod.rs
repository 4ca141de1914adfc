//! The way back: undoing a failed update (journalled, so an interrupted rollback is
//! finished by the next run), the checks after it, and what `cipug rollback` reverts.

pub mod rollback;
pub mod rollback_preview;
pub mod rolling_back;
pub mod undo_checks;
