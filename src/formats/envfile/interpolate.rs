//! Interpolation of `${VAR}`, `${VAR:-default}`, `$VAR` and the like in env values.

/// Why a value cannot be interpolated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InterpolateError {
    /// A `${` without its `}`; the value.
    #[error("unterminated `${{` in `{0}`")]
    Unterminated(String),
    /// A `${...}` that is no substitution compose knows.
    #[error("bad substitution `${{{expr}}}` in `{value}`")]
    Bad {
        /// What stands between the braces.
        expr: String,
        /// The whole value.
        value: String,
    },
    /// A variable without a default that is not set.
    #[error("variable `{0}` is not set")]
    Unset(String),
    /// A `${VAR?message}` or `${VAR:?message}` whose variable is not set.
    #[error("variable `{name}` is required: {message}")]
    Required {
        /// The variable.
        name: String,
        /// The message the value gives.
        message: String,
    },
}

/// Expands `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`, `$VAR` and
/// `$$` in `value`. `lookup` returns `None` for an unset variable. An unset variable without
/// a default is an error naming it.
pub fn interpolate(
    value: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, InterpolateError> {
    interpolate_with(value, &lookup)
}

fn interpolate_with(
    value: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolateError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(inner) = rest.strip_prefix('{') {
            let end = matching_brace(inner)
                .ok_or_else(|| InterpolateError::Unterminated(value.to_owned()))?;
            let expr = &inner[..end];
            rest = &inner[end + 1..];
            let name_len = expr
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(expr.len());
            let (name, op) = expr.split_at(name_len);
            if name.is_empty() {
                return Err(InterpolateError::Bad {
                    expr: expr.to_owned(),
                    value: value.to_owned(),
                });
            }
            let current = lookup(name);
            let expanded = if op.is_empty() {
                current.ok_or_else(|| InterpolateError::Unset(name.to_owned()))?
            } else if let Some(default) = op.strip_prefix(":-") {
                match current {
                    Some(v) if !v.is_empty() => v,
                    _ => interpolate_with(default, lookup)?,
                }
            } else if let Some(default) = op.strip_prefix('-') {
                match current {
                    Some(v) => v,
                    None => interpolate_with(default, lookup)?,
                }
            } else if let Some(msg) = op.strip_prefix(":?").or_else(|| op.strip_prefix('?')) {
                match current {
                    Some(v) if !v.is_empty() || op.starts_with('?') => v,
                    _ => {
                        return Err(InterpolateError::Required {
                            name: name.to_owned(),
                            message: msg.to_owned(),
                        })
                    }
                }
            } else {
                return Err(InterpolateError::Bad {
                    expr: expr.to_owned(),
                    value: value.to_owned(),
                });
            };
            out.push_str(&expanded);
        } else {
            let name_len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if name_len == 0 {
                out.push('$');
                continue;
            }
            let (name, after) = rest.split_at(name_len);
            out.push_str(&lookup(name).ok_or_else(|| InterpolateError::Unset(name.to_owned()))?);
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The position of the `}` that closes an already opened `${`.
fn matching_brace(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn interpolation_table() {
        let vars: HashMap<&str, &str> = [("A", "a"), ("E", "")].into_iter().collect();
        let lookup = |n: &str| vars.get(n).map(|v| v.to_string());
        let ok: &[(&str, &str)] = &[
            ("${A}", "a"),
            ("x$A-y", "xa-y"),
            ("${B:-def}", "def"),
            ("${E:-def}", "def"),
            ("${E-def}", ""),
            ("${B-${A}}", "a"),
            ("$$A", "$A"),
            ("reg/${A}:${B:-latest}", "reg/a:latest"),
            ("end$", "end$"),
        ];
        for (input, want) in ok {
            assert_eq!(interpolate(input, lookup).as_deref(), Ok(*want), "{input}");
        }
        for bad in ["${B}", "$B", "${A", "${}", "${A:+x}", "${B:?needed}"] {
            assert!(interpolate(bad, lookup).is_err(), "{bad}");
        }
    }
}
