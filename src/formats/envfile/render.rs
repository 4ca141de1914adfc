//! Rendering a value for an env file in a given quoting.

use super::entry::Quote;

/// Renders `value` for a file, in the given quoting. Characters that the quoting cannot
/// carry switch it to double quotes with escapes, so a value can never add lines or keys.
pub fn render_value(value: &str, quote: Quote) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c);
    match quote {
        Quote::None if value.chars().all(plain) && !value.is_empty() => value.to_owned(),
        Quote::Single if !value.contains(['\'', '\n', '\r']) => format!("'{value}'"),
        _ => {
            let mut out = String::from("\"");
            for c in value.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '$' => out.push_str("\\$"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::formats::envfile::EnvFile;

    fn parse(text: &str) -> EnvFile {
        EnvFile::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn rendered_values_cannot_inject_lines() {
        let mut file = parse("A=1\n");
        file.set("A", "x\nEVIL=1 # '\"$", None);
        assert_eq!(file.entries().len(), 1);
        assert_eq!(file.get("A").unwrap().value, "x\nEVIL=1 # '\"$");
    }
}
