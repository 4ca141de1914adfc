//! The update pipeline, in order: find the services and resolve their tags
//! ([`prepare`]), compare the pins ([`plan`], [`status`]), take the run lock ([`lock`]),
//! snapshot, write, pull and restart ([`apply`], [`journal`]), gate on health ([`gate`]),
//! roll back ([`rollback`]) and record the outcome ([`history`]).

pub mod apply;
pub mod checks;
#[cfg(test)]
pub mod fixture;
pub mod gate;
pub mod history;
pub mod journal;
pub mod lock;
pub mod prepare;
pub mod project;
pub mod record;
pub mod select;
pub mod service;
pub mod undo;
