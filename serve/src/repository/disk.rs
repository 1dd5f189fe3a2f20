//! Reading a repository folder: its models (`<root>/<model>/model.toml`),
//! each model's versions (numeric folders), a version's fingerprint (to
//! know a failed version's files changed), and a model's own
//! configuration.
//!
//! A version folder is taken as soon as its numeric name appears, so it
//! must be complete by then: copy it under another name (`.2.partial`,
//! `tmp-2`: not a number, so not a version) and rename it into place,
//! which is atomic within one filesystem. Versions are immutable: a
//! version already loaded is not reloaded when its files change (publish a
//! new number); a version that failed is tried again once its files (or
//! the model folder's: `model.toml`, the layout) change.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::policy::{is_model_name, version_number, VersionPolicy};
use crate::config::{ConfigError, Layout, Limits, ModelSections, ModelSpec, Response};

/// A model's own configuration file, in its folder.
pub const MODEL_FILE: &str = "model.toml";

/// The most entries a fingerprint looks at in one version folder.
const MAX_ENTRIES: usize = 10_000;

/// `<model>/model.toml` as written: the version policy and the model's
/// sections, as in a one-model configuration file (`[layout]`'s path is
/// relative to the model's folder, the model's files to each version's).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    #[serde(default)]
    versions: VersionPolicy,
    layout: Layout,
    model: crate::models::ModelConfig,
    #[serde(default)]
    response: Response,
    #[serde(default)]
    batching: crate::config::Batching,
}

/// The model folders of `root` (named as models), by name.
///
/// # Errors
///
/// The folder cannot be listed.
pub fn models(root: &Path) -> Result<BTreeMap<String, PathBuf>, String> {
    let mut found = BTreeMap::new();
    let entries = std::fs::read_dir(root).map_err(|e| format!("cannot list {}: {e}", root.display()))?;
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if is_model_name(&name) && entry.path().join(MODEL_FILE).is_file() {
            found.insert(name, entry.path());
        }
    }
    Ok(found)
}

/// The version numbers in `model_dir` (numeric folder names; anything
/// else is ignored).
///
/// # Errors
///
/// The folder cannot be listed.
pub fn versions(model_dir: &Path) -> Result<BTreeSet<u64>, String> {
    let entries =
        std::fs::read_dir(model_dir).map_err(|e| format!("cannot list {}: {e}", model_dir.display()))?;
    Ok(entries
        .flatten()
        // A symbolic link to a folder is a version too (`ln -sfn`).
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().and_then(version_number))
        .collect())
}

/// A hash of what a version's load reads: the names, sizes and
/// modification times of the version folder's entries (to a depth of 4,
/// at most 10,000 entries) and of the model folder's own files
/// (`model.toml`, the layout beside it). Files named by absolute paths
/// elsewhere are not in it: a version that failed on one is tried again
/// by a load through the API.
pub fn fingerprint(model_dir: &Path, version: u64) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    let mut stamp = |p: &Path| {
        p.hash(&mut h);
        if let Ok(m) = std::fs::metadata(p) {
            m.len().hash(&mut h);
            m.modified().ok().hash(&mut h);
        }
    };
    // The model folder's own files: model.toml, the layout beside it.
    if let Ok(entries) = std::fs::read_dir(model_dir) {
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| !p.is_dir())
            .take(MAX_ENTRIES)
            .collect();
        files.sort();
        files.iter().for_each(|p| stamp(p));
    }
    let mut pending = vec![(model_dir.join(version.to_string()), 0)];
    let mut seen = 0;
    while let Some((dir, depth)) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            seen += 1;
            if seen > MAX_ENTRIES {
                return h.finish();
            }
            stamp(&p);
            if depth < 4 && p.is_dir() {
                pending.push((p, depth + 1));
            }
        }
    }
    h.finish()
}

/// Reads `<model_dir>/model.toml` for version `version` of model `name`:
/// its policy, and the version's [`ModelSpec`] checked against `limits`
/// exactly as a one-model configuration is at start.
///
/// # Errors
///
/// A [`ConfigError`] naming `model.toml` and the key.
pub fn model_file(
    model_dir: &Path,
    name: &str,
    version: u64,
    limits: &Limits,
) -> Result<(VersionPolicy, ModelSpec), ConfigError> {
    let path = model_dir.join(MODEL_FILE);
    let policy = policy(model_dir)?;
    let file = read(&path)?;
    let sections = ModelSections {
        layout: file.layout,
        model: file.model,
        response: file.response,
        batching: file.batching,
    };
    let version_dir = model_dir.join(version.to_string());
    let spec = ModelSpec::new(&path, name.to_string(), sections, model_dir, &version_dir, limits)?;
    Ok((policy, spec))
}

/// The version policy of the model in `model_dir` (its `model.toml`
/// read whole, so a file that does not parse is refused here too).
///
/// # Errors
///
/// A [`ConfigError`] naming `model.toml` and the key.
pub fn policy(model_dir: &Path) -> Result<VersionPolicy, ConfigError> {
    let path = model_dir.join(MODEL_FILE);
    let policy = read(&path)?.versions;
    policy.check().map_err(|reason| ConfigError {
        file: path,
        key: "versions".into(),
        reason,
    })?;
    Ok(policy)
}

fn read(path: &Path) -> Result<ModelFile, ConfigError> {
    let error = |key: &str, reason: String| ConfigError {
        file: path.to_path_buf(),
        key: key.into(),
        reason,
    };
    let bytes = crate::files::read_regular(path, crate::files::CONFIG_BYTES).map_err(|e| error("", e))?;
    let text = String::from_utf8(bytes).map_err(|e| error("", format!("not UTF-8 text: {e}")))?;
    toml::from_str(&text).map_err(|e| crate::config::toml_error(path, &text, &e))
}
