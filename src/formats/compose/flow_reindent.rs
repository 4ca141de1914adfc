//! Compose files whose flow collections (`[...]`, `{...}`) go on over lines indented no more
//! than their key, as in
//!
//! ```yaml
//!     command: [
//!       "run",
//!     ]
//! ```
//!
//! PyYAML and go-yaml, which the compose tools use, read these; `saphyr-parser` follows the
//! YAML spec and refuses them ("invalid indentation"). [`reindent`] gives such a text with
//! every line that continues a flow collection indented further, which changes no value
//! (indentation inside flow collections carries no meaning), and maps its byte offsets back
//! to the original's, so that an edit found on the copy is made on the original. Callers
//! check that both texts give the same YAML value before they trust the copy: a bracket
//! that this scan misreads (in a block scalar, say) then only means the copy is not used.
//! This module does no I/O.

/// A text with its flow continuation lines indented further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reindented {
    /// The indented text.
    pub text: String,
    /// Each insertion: (its offset in `text`, how many spaces), in order.
    inserts: Vec<(usize, usize)>,
}

impl Reindented {
    /// Where spaces were put in [`Reindented::text`].
    pub fn inserted(&self) -> impl Iterator<Item = usize> + '_ {
        self.inserts.iter().map(|&(at, _)| at)
    }

    /// The offset in the original text of `offset` in [`Reindented::text`] (an offset within
    /// inserted spaces maps to the start of the line they were put before).
    pub fn original_offset(&self, offset: usize) -> usize {
        let mut shift = 0;
        for &(at, n) in &self.inserts {
            if offset < at {
                break;
            }
            shift += n.min(offset - at);
        }
        offset - shift
    }
}

/// `text` with each line that starts inside a flow collection indented one space more
/// than the line that opened the outermost collection; `None` when no line does.
pub fn reindent(text: &str) -> Option<Reindented> {
    let mut out = String::with_capacity(text.len() + 64);
    let mut inserts = Vec::new();
    let mut scan = Scan::default();
    let mut opener_indent = 0;
    for line in text.split_inclusive('\n') {
        if scan.depth > 0 && !scan.in_quote() {
            let indent = line.len() - line.trim_start_matches(' ').len();
            if indent <= opener_indent {
                let n = opener_indent + 1 - indent;
                inserts.push((out.len(), n));
                out.extend(std::iter::repeat_n(' ', n));
            }
        } else if scan.depth == 0 {
            opener_indent = line.len() - line.trim_start_matches(' ').len();
        }
        scan.line(line);
        out.push_str(line);
    }
    (!inserts.is_empty()).then_some(Reindented { text: out, inserts })
}

/// The flow depth and quoting state at the end of the lines read so far.
#[derive(Debug, Default)]
struct Scan {
    depth: usize,
    quote: Option<char>,
}

impl Scan {
    fn in_quote(&self) -> bool {
        self.quote.is_some()
    }

    fn line(&mut self, line: &str) {
        let mut previous = ' ';
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match (self.quote, c) {
                (Some('\''), '\'') if chars.peek() == Some(&'\'') => {
                    chars.next();
                }
                (Some('"'), '\\') => {
                    chars.next();
                }
                (Some(q), c) if c == q => self.quote = None,
                (Some(_), _) => {}
                (None, '#') if previous.is_whitespace() => return,
                (None, '\'' | '"') if previous.is_whitespace() || "[{,:".contains(previous) => {
                    self.quote = Some(c)
                }
                (None, '[' | '{') => self.depth += 1,
                (None, ']' | '}') => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
            previous = c;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indents_flow_continuation_lines_and_maps_offsets_back() {
        let text = "a:\n  command: [\n    \"x\",\n  ]\n  env: {A: 1,\nB: \"]\"}\n  b: [1] # [\n";
        let got = reindent(text).unwrap();
        assert_eq!(
            got.text,
            "a:\n  command: [\n    \"x\",\n   ]\n  env: {A: 1,\n   B: \"]\"}\n  b: [1] # [\n"
        );
        for (i, c) in text.char_indices() {
            let padded = got.text[..]
                .char_indices()
                .filter(|(j, _)| got.original_offset(*j) == i)
                .map(|(_, d)| d)
                .next_back();
            assert_eq!(padded, Some(c), "offset {i}");
        }
        assert_eq!(reindent("a: [1,\n    2]\n"), None);
    }
}
