//! The update pipeline, in order: find the services and resolve their tags
//! ([`prepare`]), compare the pins ([`plan`], [`status`]), take the run lock ([`lock`]),
//! snapshot, write, pull and restart ([`apply`], [`journal`]), gate on health ([`gate`]),
//! roll back ([`rollback`]) and record the outcome ([`history`]).

pub mod apply;
pub mod checks;
pub mod compose_model;
pub mod cooldown;
pub mod dependents;
pub mod expect;
pub mod first_seen;
#[cfg(test)]
pub mod fixture;
pub mod gate;
pub mod gate_progress;
pub mod gate_slots;
pub mod history;
pub mod journal;
pub mod lock;
pub mod newer;
pub mod plan;
pub mod prepare;
pub mod pull;
pub mod readiness;
pub mod record;
pub mod restart;
pub mod rollback;
pub mod rollback_preview;
pub mod rolling_back;
pub mod select;
pub mod status;
pub mod subvolume;
pub mod summary;
pub mod tag_update;
pub mod undo_checks;
pub mod update_policy;
pub mod what_changed;
pub mod window;
