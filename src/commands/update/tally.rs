//! What a run gathers as it goes (exit codes, summary rows, history events, how many
//! services were updated), each service's outcome recorded into it, and the run's result.

use crate::error::{Error, Result};
use crate::pipeline::history::Event;
use crate::pipeline::journal::{Pending, RollbackStep};
use crate::pipeline::project::dependents::restart::Restarted;
use crate::pipeline::record::record;
use crate::pipeline::record::summary::Row;
use crate::pipeline::record::what_changed;
use crate::pipeline::service::{Change, Outcome, Service};

use super::{Context, Options};

/// What a run gathers as it goes: exit codes, summary rows, history events, updates.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) codes: Vec<u8>,
    pub(super) rows: Vec<Row>,
    pub(super) events: Vec<Event>,
    pub(super) updated: usize,
}

impl Tally {
    /// Records the outcome of one service: journal, rows, the post-update command, history
    /// events and notifications.
    pub(super) fn add(
        &mut self,
        context: &Context<'_>,
        service: &Service,
        outcome: &Outcome,
        held: &[Change],
    ) {
        let name = &service.dir.name;
        match outcome {
            // Nothing was journalled for a service that was already current.
            Outcome::Current => {}
            Outcome::Failed { error, .. } if unfinished(error, context.journal.get(name)) => {}
            _ => context.journal.remove(name),
        }
        if let Outcome::Current = outcome {
            log::debug!("{name}: up to date");
            // Held-back and notify-only entries have their own row already.
            let current: Vec<Row> = Row::from_outcome(service, outcome)
                .into_iter()
                .filter(|r| !held.iter().any(|h| h.entry == r.entry))
                .filter(|r| {
                    !self
                        .rows
                        .iter()
                        .any(|x| x.service == r.service && x.entry == r.entry)
                })
                .collect();
            self.rows.extend(current);
            return;
        }
        if let Outcome::Updated { .. } = outcome {
            self.updated += 1;
            let post = crate::adapters::hooks::POST;
            let hook =
                crate::adapters::hooks::run(context.runner, &service.env, &service.dir, post);
            if let Err(e) = hook {
                log::error!("{}", e.of_service(name));
                self.codes.push(e.exit_code());
            }
        }
        let (recorded, notes) = record(
            service,
            outcome,
            context.notifier,
            context.features,
            &mut self.codes,
        );
        self.events.extend(recorded);
        let first = self.rows.len();
        self.rows.extend(Row::from_outcome(service, outcome));
        what_changed::annotate(&mut self.rows[first..], name, &notes);
    }

    /// Records the dependents started again after their provider: a row each
    /// (`restarted after <provider>`, or `failed (<code>): restarted after <provider>`).
    pub(super) fn add_restarted(&mut self, restarted: &[Restarted]) {
        for r in restarted {
            let after = format!("restarted after {}", r.provider);
            let outcome = match &r.result {
                Ok(_) => after,
                Err(e) => {
                    self.codes.push(e.exit_code());
                    format!("failed ({}): {after}", e.exit_code())
                }
            };
            self.rows.push(Row {
                outcome,
                recreated: r.result.as_ref().map(Vec::clone).unwrap_or_default(),
                ..Row::failed(&r.dependent, "", &Error::Value(String::new()))
            });
        }
    }

    /// The run's result from the codes gathered, after a last line that counts the entries
    /// by what happened to them.
    pub(super) fn result(&self, options: &Options) -> Result<()> {
        if !options.dry_run {
            let line = counts(&self.rows);
            if self.codes.is_empty() {
                log::info!("{line}");
            } else {
                log::error!("{line}");
            }
        }
        if self.codes.is_empty() {
            Ok(())
        } else {
            Err(Error::Several(self.codes.clone()))
        }
    }
}

/// Whether a service that failed with `error` leaves its journal `entry` to be finished by
/// the next run: a rollback that had not put the files back yet (whatever stopped it, the
/// compose tool included); an update whose pins may be written but whose containers may not
/// run them (a pull, restart or compose tool failure). A rollback that put the files back
/// but whose restored version did not start has nothing left to finish.
fn unfinished(error: &Error, entry: Option<Pending>) -> bool {
    match entry.and_then(|p| p.rollback) {
        Some(rollback) => rollback.step != RollbackStep::Restored,
        None => matches!(
            error,
            Error::Pull(_) | Error::Restart(_) | Error::Compose(_)
        ),
    }
}

/// `2 updated, 5 unchanged, 1 failed, 1 held back` for the entries of `rows` (rolled back
/// counts as failed; waiting entries are unchanged for now).
pub(super) fn counts(rows: &[Row]) -> String {
    let mut tally = [0usize; 4];
    for row in rows {
        let slot = match row.outcome.as_str() {
            o if o.starts_with("updated") => 0,
            "held back" => 3,
            o if o.starts_with("failed") || o.starts_with("rolled back") => 2,
            _ => 1,
        };
        tally[slot] += 1;
    }
    let [updated, unchanged, failed, held] = tally;
    format!("{updated} updated, {unchanged} unchanged, {failed} failed, {held} held back")
}
