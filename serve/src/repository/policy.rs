//! The repository's settings (`[repository]`) and its rules on names:
//! which folders are models and versions, and which versions serve
//! ([`VersionPolicy`]); unit-tested here on their own.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// `[repository]`: a folder of models, `<path>/<model>/model.toml` and
/// `<path>/<model>/<version>/` (TensorFlow Serving's layout).
///
/// ```toml
/// [repository]
/// path = "models"          # relative to this file's folder
/// poll_s = 30.0            # look for new versions this often (0: only on SIGHUP and the API)
/// thrift_model = "ranker"  # the model the Thrift port serves (default: the only one)
/// control_api = true       # let the repository API load and unload (default: off)
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryConfig {
    /// The folder.
    pub path: PathBuf,
    /// Seconds between two looks at the folder; 0: none (SIGHUP and the
    /// repository API only).
    #[serde(default = "default_poll_s")]
    pub poll_s: f64,
    /// The model the Thrift port serves: required when the repository
    /// may hold more than one.
    pub thrift_model: Option<String>,
    /// Whether the repository API may load and unload models (its index
    /// is always served). Off by default: anyone who reaches the HTTP or
    /// gRPC port could otherwise unload every model.
    #[serde(default)]
    pub control_api: bool,
}

fn default_poll_s() -> f64 {
    30.0
}

impl RepositoryConfig {
    /// The path made relative to `dir`, and the values checked.
    ///
    /// # Errors
    ///
    /// The key at fault (under `repository.`) and why.
    pub fn resolve(&mut self, dir: &Path) -> Result<(), (&'static str, String)> {
        self.path = dir.join(&self.path);
        if !(self.poll_s == 0.0 || (0.1..=86_400.0).contains(&self.poll_s)) {
            return Err((
                "repository.poll_s",
                format!("{} is not 0 (no polling) or 0.1 to 86400 seconds", self.poll_s),
            ));
        }
        if let Some(name) = &self.thrift_model {
            if !is_model_name(name) {
                return Err(("repository.thrift_model", format!("{name:?} is not a model name")));
            }
        }
        Ok(())
    }
}

/// Which of a model's versions serve (`versions = ...` in its
/// `model.toml`), TensorFlow Serving's three policies.
///
/// ```toml
/// versions = { latest = 2 }      # the two highest (the default: { latest = 1 })
/// versions = { specific = [3, 5] }
/// versions = "all"
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum VersionPolicy {
    /// The `n` highest versions.
    Latest(usize),
    /// These versions (those present).
    Specific(BTreeSet<u64>),
    /// Every version.
    All,
}

impl Default for VersionPolicy {
    fn default() -> Self {
        VersionPolicy::Latest(1)
    }
}

impl VersionPolicy {
    /// The policy's own checks.
    ///
    /// # Errors
    ///
    /// Why it can never serve anything.
    pub fn check(&self) -> Result<(), String> {
        match self {
            VersionPolicy::Latest(0) => Err("latest = 0 would serve no version".into()),
            VersionPolicy::Specific(v) if v.is_empty() => Err("specific = [] would serve no version".into()),
            _ => Ok(()),
        }
    }

    /// The versions of `available` this policy serves.
    pub fn select(&self, available: &BTreeSet<u64>) -> BTreeSet<u64> {
        match self {
            VersionPolicy::Latest(n) => available.iter().rev().take(*n).copied().collect(),
            VersionPolicy::Specific(wanted) => available.intersection(wanted).copied().collect(),
            VersionPolicy::All => available.clone(),
        }
    }
}

/// A model's name: a folder name that is also safe in a URL path and a
/// metric label (letters, digits, `-`, `_`, `.`; not starting with `.`,
/// at most 128 bytes).
pub fn is_model_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A version folder's number: its name is all ASCII digits (no sign, no
/// leading zero unless "0", at most 18 digits). Anything else, such as
/// a folder being copied under a temporary name, is not a version.
pub fn version_number(name: &str) -> Option<u64> {
    let plain = !name.is_empty()
        && name.len() <= 18
        && name.bytes().all(|b| b.is_ascii_digit())
        && (name == "0" || !name.starts_with('0'));
    plain.then(|| name.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[u64]) -> BTreeSet<u64> {
        v.iter().copied().collect()
    }

    #[test]
    fn latest_n_serves_the_n_highest_versions_present() {
        let on_disk = set(&[1, 2, 10, 7]);
        assert_eq!(VersionPolicy::Latest(1).select(&on_disk), set(&[10]));
        assert_eq!(VersionPolicy::Latest(2).select(&on_disk), set(&[7, 10]));
        assert_eq!(VersionPolicy::Latest(9).select(&on_disk), on_disk);
        assert_eq!(VersionPolicy::Latest(1).select(&set(&[])), set(&[]));
    }

    #[test]
    fn specific_serves_only_the_named_versions_that_are_present() {
        let policy = VersionPolicy::Specific(set(&[3, 5]));
        assert_eq!(policy.select(&set(&[1, 3, 4])), set(&[3]));
        assert_eq!(VersionPolicy::All.select(&set(&[1, 3, 4])), set(&[1, 3, 4]));
    }

    #[test]
    fn a_policy_that_can_serve_nothing_is_refused() {
        assert!(VersionPolicy::Latest(0).check().is_err());
        assert!(VersionPolicy::Specific(set(&[])).check().is_err());
        assert!(VersionPolicy::Latest(1).check().is_ok());
    }

    #[test]
    fn the_policy_reads_as_written_in_toml() {
        #[derive(Deserialize)]
        struct F {
            versions: VersionPolicy,
        }
        let read = |t: &str| toml::from_str::<F>(t).map(|f| f.versions);
        assert_eq!(
            read("versions = { latest = 2 }").unwrap(),
            VersionPolicy::Latest(2)
        );
        assert_eq!(
            read("versions = { specific = [5, 3] }").unwrap(),
            VersionPolicy::Specific(set(&[3, 5]))
        );
        assert_eq!(read("versions = \"all\"").unwrap(), VersionPolicy::All);
        assert!(read("versions = { newest = 2 }").is_err());
    }

    #[test]
    fn only_plain_numbers_are_versions() {
        assert_eq!(version_number("1"), Some(1));
        assert_eq!(version_number("0"), Some(0));
        assert_eq!(version_number("120"), Some(120));
        for not in [
            "",
            "01",
            "+1",
            "-1",
            "1.0",
            ".2",
            "2.partial",
            "v2",
            "9999999999999999999",
        ] {
            assert_eq!(version_number(not), None, "{not:?}");
        }
    }

    #[test]
    fn model_names_are_folder_names_safe_in_urls_and_labels() {
        for ok in ["ranker", "home-mixer_v2", "a.b"] {
            assert!(is_model_name(ok), "{ok}");
        }
        for not in ["", ".hidden", "a/b", "a b", "ü", &"x".repeat(129)] {
            assert!(!is_model_name(not), "{not:?}");
        }
    }
}
