//! The man page and shell completions, generated from the clap definitions so they cannot
//! drift from `--help`, and from the tables of the code: the settings
//! ([`crate::config::table`]), the keys of a service's `.env`
//! ([`crate::formats::env_keys`]) and the exit codes ([`crate::error::EXIT_CODES`]). The man
//! page is one page: its subcommand list names no other page, and it ends with the exit codes.

use std::io::Write;

use crate::error::{Error, Result, EXIT_CODES};
use crate::formats::env_keys::{Applies, ENV_KEYS};

/// Escapes text for roff: backslashes and hyphens, and a leading dot or quote.
fn roff(text: &str) -> String {
    line_start(text.replace('\\', "\\e").replace('-', "\\-"))
}

/// Escapes text for roff as [`roff`] does, with what stands between backquotes in bold.
fn marked(text: &str) -> String {
    let parts = text.split('`').enumerate().map(|(i, part)| {
        let escaped = part.replace('\\', "\\e").replace('-', "\\-");
        if i % 2 == 1 {
            format!("\\fB{escaped}\\fR")
        } else {
            escaped
        }
    });
    line_start(parts.collect())
}

/// `escaped` made safe to start a line: a leading dot or quote would be a request.
fn line_start(escaped: String) -> String {
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
    settings(out).map_err(io)?;
    env_keys(out).map_err(io)?;
    writeln!(out, ".SH \"EXIT STATUS\"").map_err(io)?;
    for (code, meaning) in EXIT_CODES {
        writeln!(out, ".TP\n\\fB{code}\\fR\n{}", marked(meaning)).map_err(io)?;
    }
    writeln!(
        out,
        ".PP\nA run that saw errors of one kind exits with that code; errors of several kinds give 255."
    )
    .map_err(io)?;
    page.render_version_section(out).map_err(io)
}

/// The SETTINGS section: where settings come from; each is an option above.
fn settings(out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, ".SH SETTINGS")?;
    let text = "Every setting is an option above, the environment variable it names \
        (`CIPUG_<NAME>`), a `CIPUG_<NAME>=value` line of the settings file \
        `/etc/cipug/cipug.env` (`CIPUG_SETTINGS_FILE` names another, empty for none), and the \
        key `<NAME>` of the JSON file `CONFIG_FILE`. The strongest first: options, the \
        environment, the settings file, the JSON file, the defaults. Booleans take \
        `true`/`false`, `1`/`0`, `yes`/`no`; lists a comma-separated string. \
        `cipug config` prints every setting in effect.";
    writeln!(out, "{}", marked(text))
}

/// The section on a service's `.env`: every key of [`ENV_KEYS`].
fn env_keys(out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, ".SH \"THE .ENV OF A SERVICE\"")?;
    let text = "Each folder under `SERVICES_ROOT` is a service: a compose file and its env file \
        (`ENV_FILE_NAME`). cipug reads these keys in it. A key with <X> belongs to one image \
        entry, <X> being the entry's name; the others to the whole service.";
    writeln!(out, "{}", marked(text))?;
    for key in ENV_KEYS {
        let default = key
            .default
            .map(|d| format!(" [default: {d}]"))
            .unwrap_or_default();
        let scope = match key.applies {
            Applies::PerEntry => "per entry",
            Applies::PerService => "per service",
        };
        writeln!(
            out,
            ".TP\n\\fB{}\\fR ({scope})\n{}{}",
            roff(&key.shown()),
            marked(key.help),
            roff(&default)
        )?;
    }
    Ok(())
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
        assert!(
            page.contains("\\fB41\\fR\n\\fBcheck \\-\\-fail\\-outdated\\fR"),
            "{page}"
        );
        assert!(page.contains("cipug rollback"), "{page}");
        assert!(!page.contains("cipug\\-update(1)"), "{page}");
        assert!(!page.contains("(1)"), "names another page");
    }

    fn page() -> String {
        let mut page = Vec::new();
        man(&mut page).unwrap();
        String::from_utf8(page).unwrap()
    }

    #[test]
    fn man_page_has_every_setting_env_key_and_exit_code() {
        let page = page();
        for setting in crate::config::table::SETTINGS {
            let var = roff(&setting.env_var());
            assert!(page.contains(&var), "man page lacks setting {var}");
        }
        let section = &page[page.find(".SH \"THE .ENV OF A SERVICE\"").unwrap()..];
        for key in ENV_KEYS {
            let entry = format!(".TP\n\\fB{}\\fR", roff(&key.shown()));
            assert!(section.contains(&entry), "man page lacks .env key {entry}");
        }
        let section = &page[page.find(".SH \"EXIT STATUS\"").unwrap()..];
        for (code, meaning) in EXIT_CODES {
            let entry = format!(".TP\n\\fB{code}\\fR\n{}", marked(meaning));
            assert!(section.contains(&entry), "man page lacks exit code {code}");
        }
    }

    #[test]
    fn names_between_backquotes_are_bold() {
        assert_eq!(marked("see `--wait`"), "see \\fB\\-\\-wait\\fR");
        assert_eq!(marked(".env"), "\\&.env");
        assert_eq!(roff("a\\b"), "a\\eb");
    }
}
