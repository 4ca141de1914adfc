//! cipug: container images pinning and updating gadget.
//!
//! Pins compose image tags to digests in each service's env file, and when a digest moves,
//! snapshots the service with snapper, writes the new pin, pulls and restarts the service.
//! The pipeline reads top-down: [`cli`] and [`config`] make the settings, [`services`] finds
//! the service folders, [`envfile`] and [`pins`] read their entries, [`resolve`] turns tags
//! into digests, [`update`] runs the steps over [`runner`], and [`report`] prints.

pub mod adopt;
pub mod adopt_cmd;
pub mod adopt_subvolume;
pub mod app;
pub mod atomic;
pub mod check;
pub mod cli;
pub mod completion_services;
pub mod compose;
pub mod compose_file;
pub mod compose_file_names;
pub mod compose_flavour;
pub mod compose_services;
pub mod config;
pub mod config_file;
pub mod containers;
pub mod cooldown;
pub mod dialects;
pub mod docgen;
pub mod doctor;
pub mod doctor_tools;
pub mod envfile;
pub mod error;
pub mod failpoint;
pub mod first_seen;
pub mod health;
pub mod history;
pub mod hooks;
pub mod image_ref;
pub mod interrupt;
pub mod journal;
pub mod lock;
pub mod logging;
pub mod metrics;
pub mod newer;
pub mod notify;
pub mod pinned_ref;
pub mod pins;
pub mod private_dir;
pub mod pull;
pub mod python_config;
pub mod registries_conf;
pub mod report;
pub mod resolve;
pub mod restart;
pub mod rollback;
pub mod runner;
pub mod services;
pub mod setting_scope;
pub mod settings;
pub mod snapcheck;
pub mod snapshot;
pub mod tag_update;
pub mod timeouts;
pub mod undo_checks;
pub mod update;
pub mod update_policy;
pub mod update_run;
pub mod version_tag;
pub mod what_changed;
