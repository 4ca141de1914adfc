//! The settings in the Python cipug's `--print-config-json` shape, which scripts parse: for
//! the settings the Python tool had, lists as comma-separated strings and unset values as
//! `""`. cipug's own settings keep their typed values.

use serde_json::Value;

/// The settings the Python cipug printed.
pub const PYTHON_SETTINGS: &[&str] = &[
    "VERBOSITY",
    "SERVICES_ROOT",
    "SERVICES_FILTER",
    "SERVICES_FILTER_EXCLUDE",
    "COMPOSE_TOOL",
    "CONTAINER_TOOL",
    "SERVICE_STOP_START",
    "STOP_START_METHOD",
    "SERVICE_SNAPSHOT",
    "SERVICE_PULL",
    "PRUNE_IMAGES",
    "COMPOSE_FILE_NAME",
    "ENV_FILE_NAME",
    "CACHE_DURATION",
    "CACHE_LOCATION",
    "SNAPSHOTS_DIR_SNAPPER",
    "SNAPSHOTS_MAX_AGE_SNAPPER",
    "SNAPSHOTS_DIR_BTRBK",
    "SNAPSHOTS_MAX_AGE_BTRBK",
    "CONFIG_FILE",
];

/// Turns the typed settings object of `Config::to_json` into the Python tool's shape.
pub fn python_shape(typed: &Value) -> Value {
    let mut value = typed.clone();
    if let Value::Object(map) = &mut value {
        for (key, v) in map.iter_mut() {
            if !PYTHON_SETTINGS.contains(&key.as_str()) {
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
