//! The update pipeline, one folder per stage: [`prepare`] the services and resolve their
//! tags, [`select`] what each service tries, [`checks`] before anything is touched (the tool,
//! the pulls), [`apply`] the update's steps on the service's compose [`project`], the health
//! [`gate`], the way back ([`undo`]), and the [`record`] of each outcome. [`service`] holds a
//! service's pins and changes; [`journal`], [`lock`] and [`history`] are the run's state.

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
