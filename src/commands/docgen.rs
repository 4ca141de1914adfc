//! The man page and shell completions, generated from the clap definitions so they cannot
//! drift from `--help`. The man page is one page: its subcommand list names no other page,
//! and it ends with the exit codes.

use std::io::Write;

use crate::error::{exit, Error, Result};

/// Every exit code with what it means, for the man page.
pub const EXIT_CODES: &[(u8, &str)] = &[
    (exit::OK, "everything went fine"),
    (exit::TOOL_MISSING, "a required tool is missing"),
    (exit::BUSY, "another cipug run is going on (see --wait)"),
    (exit::DOCTOR, "doctor found problems"),
    (
        exit::FILE_NOT_FOUND,
        "file not found (the config file, a compose file)",
    ),
    (exit::DIR_NOT_FOUND, "directory not found (SERVICES_ROOT)"),
    (exit::UNKNOWN_FORMAT, "the config file is not JSON"),
    (
        exit::UNKNOWN_STRUCTURE,
        "the config file is not a JSON object",
    ),
    (exit::TYPE_ERROR, "a setting of the wrong type"),
    (
        exit::VALUE_ERROR,
        "an unknown setting, a value out of range, SERVICES_ROOT missing",
    ),
    (exit::TOOL_ERROR, "tool or registry error"),
    (exit::SNAPSHOT_ERROR, "snapshot error"),
    (
        exit::ENV_ERROR,
        "a .env could not be parsed or written, or lies outside its service's snapshots",
    ),
    (exit::PULL_ERROR, "image pull error"),
    (
        exit::RESTART_ERROR,
        "service restart error (also when the update was rolled back)",
    ),
    (exit::SNAPSHOTS_TOO_OLD, "snapshots missing or too old"),
    (
        exit::OUTDATED,
        "check --fail-outdated: entries are outdated or unpinned",
    ),
    (exit::SEVERAL, "several different errors in one run"),
];

/// Escapes text for roff: backslashes and hyphens, and a leading dot or quote.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// Writes the man page (roff) of cipug.
pub fn man(out: &mut dyn Write) -> Result<()> {
    let io = |e| Error::io("standard output", e);
    let command = crate::cli::command();
    let page = clap_mangen::Man::new(command.clone());
    page.render_title(out).map_err(io)?;
    page.render_name_section(out).map_err(io)?;
    page.render_synopsis_section(out).map_err(io)?;
    page.render_description_section(out).map_err(io)?;
    page.render_options_section(out).map_err(io)?;
    writeln!(out, ".SH COMMANDS").map_err(io)?;
    for sub in command.get_subcommands() {
        let usage = sub
            .clone()
            .bin_name(format!("cipug {}", sub.get_name()))
            .render_usage();
        let usage = usage.to_string();
        let usage = usage.trim_start_matches("Usage: ");
        writeln!(out, ".TP\n\\fB{}\\fR", roff(usage)).map_err(io)?;
        if let Some(about) = sub.get_about() {
            writeln!(out, "{}", roff(&about.to_string())).map_err(io)?;
        }
    }
    writeln!(out, ".SH \"EXIT STATUS\"").map_err(io)?;
    for (code, meaning) in EXIT_CODES {
        writeln!(out, ".TP\n\\fB{code}\\fR\n{}", roff(meaning)).map_err(io)?;
    }
    writeln!(
        out,
        ".PP\nA run that saw errors of one kind exits with that code; errors of several kinds give 255."
    )
    .map_err(io)?;
    page.render_version_section(out).map_err(io)
}

/// Writes the completion script for `shell`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) -> Result<()> {
    // clap_complete panics when its writer fails (a closed pipe): generate into memory.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut crate::cli::command(), "cipug", &mut script);
    out.write_all(&script)
        .map_err(|e| Error::io("standard output", e))?;
    crate::commands::completion_services::append(shell, out)?;
    out.flush().map_err(|e| Error::io("standard output", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_page_has_exit_codes_and_names_no_other_page() {
        let mut page = Vec::new();
        man(&mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(page.contains(".SH \"EXIT STATUS\""), "{page}");
        assert!(page.contains("\\fB34\\fR\nservice restart error"), "{page}");
        assert!(page.contains("cipug rollback"), "{page}");
        assert!(!page.contains("cipug\\-update(1)"), "{page}");
        assert!(!page.contains("(1)"), "names another page");
    }
}
