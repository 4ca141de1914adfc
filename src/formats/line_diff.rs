//! `-`/`+` lines for the lines that differ between two texts, as `--dry-run` shows them.

/// `-`/`+` lines for the lines that differ between two texts.
pub fn line_diff(before: &str, after: &str) -> Vec<String> {
    similar::TextDiff::from_lines(before, after)
        .iter_all_changes()
        .filter_map(|change| {
            let sign = match change.tag() {
                similar::ChangeTag::Equal => return None,
                similar::ChangeTag::Delete => '-',
                similar::ChangeTag::Insert => '+',
            };
            Some(format!(
                "{sign} {}",
                change.value().trim_end_matches(['\n', '\r'])
            ))
        })
        .collect()
}
