//! The settings in the Python cipug's `--print-config-json` shape, which scripts parse: for
//! the settings the Python tool had, lists as comma-separated strings and unset values as
//! `""`. cipug's own settings keep their typed values. Which settings the Python tool had is
//! a column of the settings table ([`Origin`]).

use serde_json::Value;

use crate::config::table::{self, Origin};

/// Turns the typed settings object of `Config::to_json` into the Python tool's shape.
pub fn python_shape(typed: &Value) -> Value {
    let mut value = typed.clone();
    if let Value::Object(map) = &mut value {
        for (key, v) in map.iter_mut() {
            if !table::find(key).is_some_and(|s| s.origin == Origin::Python) {
                continue;
            }
            match v {
                Value::Null => *v = Value::from(""),
                Value::Array(items) => {
                    let joined: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                    *v = Value::from(joined.join(","));
                }
                _ => {}
            }
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_unset_values_become_strings_for_the_python_settings_only() {
        let typed = serde_json::json!({
            "SERVICES_FILTER": ["a", "b"],
            "SERVICES_FILTER_EXCLUDE": [],
            "SNAPSHOTS_DIR_SNAPPER": null,
            "SERVICE_PULL": true,
            "CACHE_DURATION": 3600,
            "NOTIFY_URL": null,
            "INSECURE_REGISTRIES": ["r:5000"],
        });
        assert_eq!(
            python_shape(&typed),
            serde_json::json!({
                "SERVICES_FILTER": "a,b",
                "SERVICES_FILTER_EXCLUDE": "",
                "SNAPSHOTS_DIR_SNAPPER": "",
                "SERVICE_PULL": true,
                "CACHE_DURATION": 3600,
                "NOTIFY_URL": null,
                "INSECURE_REGISTRIES": ["r:5000"],
            })
        );
    }
}
