//! Spin variables with defaults. A component can only read the variables its
//! `[component.<id>.variables]` table lists (least privilege in spin.toml).

/// The variable's value, or `None` when unset, empty, or not granted.
pub fn get(name: &str) -> Option<String> {
    spin_sdk::variables::get(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// The variable's value, or `default`.
pub fn get_or(name: &str, default: &str) -> String {
    get(name).unwrap_or_else(|| default.to_string())
}
