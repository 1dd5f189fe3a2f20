//! The layout file of `bprwire scatter`: a [`FeatureLayout`] written as
//! JSON, read by the library's [`FeatureLayout::from_json`] (module
//! `bprwire::features::json` describes the format and every check).

use std::path::Path;

use bprwire::features::FeatureLayout;

use super::error::CliError;

/// Reads and checks the layout file `path`; every error names it.
pub fn read(path: &Path) -> Result<FeatureLayout, CliError> {
    let text = std::fs::read(path).map_err(|e| CliError::file(path, format!("cannot read: {e}")))?;
    FeatureLayout::from_json(&text).map_err(|msg| CliError::file(path, format!("not a valid layout: {msg}")))
}
