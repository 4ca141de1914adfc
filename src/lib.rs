//! cipug: container images pinning and updating gadget.
//!
//! Pins compose image tags to digests in each service's env file, and when a digest moves,
//! snapshots the service with snapper, writes the new pin, pulls and restarts the service.
//! The pipeline reads top-down: [`cli`] and [`config`] make the settings, [`services`] finds
//! the service folders, [`envfile`] and [`pins`] read their entries, [`resolve`] turns tags
//! into digests, [`update`] runs the steps over [`runner`], and [`report`] prints.

pub mod adopt;
pub mod adopt_cmd;
pub mod app;
pub mod atomic;
pub mod check;
pub mod cli;
pub mod compose;
pub mod compose_file;
pub mod config;
pub mod cooldown;
pub mod docgen;
pub mod doctor;
pub mod envfile;
pub mod error;
pub mod failpoint;
pub mod first_seen;
pub mod health;
pub mod history;
pub mod image_ref;
pub mod journal;
pub mod lock;
pub mod logging;
pub mod metrics;
pub mod newer;
pub mod notify;
pub mod pins;
pub mod report;
pub mod resolve;
pub mod rollback;
pub mod runner;
pub mod services;
pub mod settings;
pub mod snapcheck;
pub mod snapshot;
pub mod tag_update;
pub mod update;
pub mod update_run;
pub mod version_tag;
pub mod what_changed;
