//! cipug: container images pinning and updating gadget.
mod envfile;
mod error;
mod image_ref;
mod runner;
fn main() {}
