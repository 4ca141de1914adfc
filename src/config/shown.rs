//! [`Config::to_json`]: the settings as `cipug config --json` prints them, one key per row
//! of the settings table, each value from that row's accessor, in the table's order.

use serde_json::{Map, Value};

use super::Config;
use crate::config::table::SETTINGS;

impl Config {
    /// Every setting by name, as JSON: booleans as booleans, numbers as numbers, paths as
    /// absolute strings, lists as arrays, unset ones as null; NOTIFY_URL redacted.
    pub fn to_json(&self) -> Value {
        let map: Map<String, Value> = SETTINGS
            .iter()
            .map(|setting| (setting.name.to_owned(), (setting.json)(self)))
            .collect();
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use crate::config::table::SETTINGS;
    use crate::config::tests::sources;
    use crate::config::{Config, TagUpdate};

    #[test]
    fn every_row_appears_in_the_json_exactly_once_in_table_order() {
        let c = Config::load(&sources(&[], &[("CIPUG_SERVICES_ROOT", "/s")])).unwrap();
        let json = c.to_json();
        let map = json.as_object().unwrap();
        let names: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len(), "a setting has two rows");
        assert_eq!(map.keys().map(String::as_str).collect::<Vec<_>>(), names);
    }

    #[test]
    fn values_come_from_the_config_as_it_is_now() {
        let mut c = Config::load(&sources(
            &[("TAG_UPDATE", "Minor"), ("COMPOSE_TOOL", "docker  compose")],
            &[
                ("CIPUG_SERVICES_ROOT", "/s"),
                ("CIPUG_NOTIFY_URL", "https://u:secret@h.example/x"),
                ("CIPUG_UPDATE_WINDOW", ";"),
            ],
        ))
        .unwrap();
        c.verbosity = 3;
        let json = c.to_json();
        assert_eq!(json["VERBOSITY"], 3, "as -v left it");
        assert_eq!(json["TAG_UPDATE"], "minor");
        assert_eq!(c.tag_update, TagUpdate::Minor);
        assert_eq!(
            json["COMPOSE_TOOL"], "docker compose",
            "the words joined again"
        );
        assert!(!json["NOTIFY_URL"].to_string().contains("secret"), "{json}");
        assert_eq!(json["UPDATE_WINDOW"], Value::Null, "no windows");
        assert_eq!(json["COMPOSE_FILE_NAME"], Value::Null);
        assert_eq!(json["PULL_TIMEOUT"], 1800);
        assert_eq!(json["MIN_AGE"], 0.0);
        assert_eq!(
            json["REGISTRY_CERTS_DIR"],
            serde_json::json!(["/etc/containers/certs.d", "/etc/docker/certs.d"])
        );
    }
}
