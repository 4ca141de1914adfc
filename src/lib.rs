//! cipug: container images pinning and updating gadget.
//!
//! Pins compose image tags to digests in each service's env file, and when a digest moves,
//! snapshots the service with snapper, writes the new pin, pulls and restarts the service.
//! The pipeline reads top-down: [`cli`] and [`config`] make the settings, [`services`] finds
//! the service folders, [`formats::envfile`] and [`formats::pins`] read their entries, [`resolve`] turns tags
//! into digests, [`pipeline::service`] runs the steps over [`adapters::runner`], and [`commands::report`] prints.

pub mod adapters;
pub mod base;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod files;
pub mod formats;
pub mod pipeline;
pub mod resolve;
pub mod services;
