//! The limits of a compose file, checked before any YAML parser builds it.
//!
//! A YAML parser's time can grow with the square of the nesting: libyaml (which cipug used
//! to read compose files with) looks through every open flow level (`[` or `{`) for each
//! token, so a 160 KB file nested 80,000 levels deep took 44 s of an update, with the run
//! lock held; a reader that builds values recurses once a level. Every reader of compose files calls [`check`]
//! first. It refuses a file larger than [`MAX_BYTES`] and one nested deeper than
//! [`MAX_DEPTH`] (flow and block collections alike, counted together), far above what real
//! compose files have (about 8 levels). The count reads `saphyr-parser`'s events, whose
//! time is linear (it holds at most 255 flow levels) and which stops at the first level
//! past the limit. A file that this scan cannot read as YAML is refused too: a parser that
//! read on could still meet deep nesting after it. This module does no I/O.

use saphyr_parser::{Event, Parser};

/// The largest compose file cipug reads, in bytes (2 MiB; real ones have a few KB).
pub const MAX_BYTES: usize = 2 << 20;

/// The deepest nesting of collections a compose file may have (real ones have about 8).
pub const MAX_DEPTH: usize = 100;

/// Why a compose file is not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// The file is larger than [`MAX_BYTES`].
    #[error("larger than {MAX_BYTES} bytes, the most a compose file may have; not read")]
    TooBig,
    /// The file nests collections deeper than [`MAX_DEPTH`].
    #[error(
        "nested more than {MAX_DEPTH} levels deep (compose line {line}), more than a compose \
         file may have; not read"
    )]
    TooDeep {
        /// The 1-based line where the nesting passed the limit.
        line: usize,
    },
    /// The scan cannot read the file as YAML.
    #[error("compose line {line}: not valid YAML: {info}; not read")]
    NotYaml {
        /// The 1-based line of the error.
        line: usize,
        /// The parser's message.
        info: String,
    },
}

impl LimitError {
    /// The 1-based compose line the error is about (1 for a file too big).
    pub fn line(&self) -> usize {
        match self {
            LimitError::TooBig => 1,
            LimitError::TooDeep { line } | LimitError::NotYaml { line, .. } => *line,
        }
    }
}

/// Checks that `text`, a compose file, is within [`MAX_BYTES`] and [`MAX_DEPTH`], in time
/// linear in its length.
pub fn check(text: &str) -> Result<(), LimitError> {
    if text.len() > MAX_BYTES {
        return Err(LimitError::TooBig);
    }
    match scan(text) {
        // Flow collections over lines indented less than the spec wants: what the compose
        // tools read, the same nesting once indented (`flow_reindent`).
        Err(LimitError::NotYaml { info, .. }) if info.contains("invalid indentation") => {
            match crate::formats::compose::yaml::flow_safe_copy(text) {
                Some(copy) => scan(&copy.text),
                None => scan(text),
            }
        }
        result => result,
    }
}

/// Counts the nesting of `text` with the event parser.
fn scan(text: &str) -> Result<(), LimitError> {
    let mut depth = 0_usize;
    for item in Parser::new_from_str(text) {
        let (event, span) = match item {
            Ok(item) => item,
            // saphyr's own bound on flow levels (255): deeper than ours.
            Err(e) if e.info() == "recursion limit exceeded" => {
                return Err(LimitError::TooDeep {
                    line: e.marker().line(),
                })
            }
            Err(e) => {
                return Err(LimitError::NotYaml {
                    line: e.marker().line(),
                    info: e.info().to_owned(),
                })
            }
        };
        match event {
            Event::MappingStart(..) | Event::SequenceStart(..) => depth += 1,
            Event::MappingEnd | Event::SequenceEnd => depth = depth.saturating_sub(1),
            Event::StreamEnd => return Ok(()),
            _ => {}
        }
        if depth > MAX_DEPTH {
            return Err(LimitError::TooDeep {
                line: span.start.line(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A compose file whose service `app` has `x:` nested `depth` levels deep in flow style.
    fn deep_flow(depth: usize) -> String {
        format!(
            "services:\n  app:\n    image: nginx:1\n    x: {}{}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        )
    }

    /// The same in block style: a mapping per level, each indented one more.
    fn deep_block(depth: usize) -> String {
        let mut text = String::from("services:\n  app:\n    image: nginx:1\n    x:\n");
        for level in 0..depth {
            text.push_str(&format!("{}a{level}:\n", " ".repeat(6 + level)));
        }
        text
    }

    #[test]
    fn real_files_pass() {
        let text = "x-common: &c\n  restart: unless-stopped\nservices:\n  app:\n    <<: *c\n    image: ${SERVICE_APP_IMAGE_HASHED}\n    command: [\"sh\", \"-c\", \"[ -f /x ] && echo '[[['\"]\n    healthcheck:\n      test: [\"CMD\", \"true\"]\n    labels:\n      rule: \"PathRegexp(`^/[[[[[[a-z`)\" # [[[[[[[[\n    environment:\n      - A=[[[[[[[[[[\n    entrypoint: |\n      [[[[[[[[[[ {{{{{{{{\n";
        assert_eq!(check(text), Ok(()));
        assert_eq!(check(""), Ok(()));
        assert_eq!(check(&deep_flow(MAX_DEPTH - 4)), Ok(()));
        assert_eq!(check(&deep_block(MAX_DEPTH - 4)), Ok(()));
    }

    #[test]
    fn brackets_in_quotes_comments_and_block_scalars_do_not_count() {
        let many = "[".repeat(10 * MAX_DEPTH);
        for text in [
            format!("services:\n  app:\n    image: x # {many}\n"),
            format!("services:\n  app:\n    image: x\n    a: '{many}'\n    b: \"{many}\"\n"),
            format!("services:\n  app:\n    command: |\n      {many}\n"),
            format!("services:\n  app:\n    command: [\"{many}\", '{many}']\n"),
            format!("services:\n  app:\n    command: a{many}\n"),
        ] {
            assert_eq!(check(&text), Ok(()), "{text}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_early() {
        for (text, line) in [
            (deep_flow(MAX_DEPTH), 4),
            (deep_flow(80_000), 4),
            (deep_flow(80_000).replace('[', "{a: ").replace(']', "}"), 4),
            (deep_block(MAX_DEPTH), 2 + MAX_DEPTH),
            (deep_block(2_000), 2 + MAX_DEPTH),
            (
                format!(
                    "services:\n  app:\n    x:\n      {}a\n",
                    "- ".repeat(80_000)
                ),
                4,
            ),
        ] {
            let start = Instant::now();
            assert_eq!(check(&text), Err(LimitError::TooDeep { line }), "{line}");
            assert!(start.elapsed().as_secs() < 2, "{:?}", start.elapsed());
        }
        let message = check(&deep_flow(80_000)).unwrap_err().to_string();
        assert_eq!(
            message,
            "nested more than 100 levels deep (compose line 4), more than a compose file may \
             have; not read"
        );
    }

    #[test]
    fn big_files_are_refused() {
        let line = "    # a comment line of a big compose file\n";
        let big = format!(
            "services:\n  app:\n{}",
            line.repeat(MAX_BYTES / line.len() + 1)
        );
        assert_eq!(check(&big), Err(LimitError::TooBig));
        let fits = &big[..MAX_BYTES];
        assert_eq!(check(fits), Ok(()));
    }

    #[test]
    fn broken_yaml_is_refused() {
        let err = check("services:\n  app: [\n").unwrap_err();
        assert!(matches!(err, LimitError::NotYaml { .. }), "{err}");
    }
}
