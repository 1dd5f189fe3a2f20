//! The layout file of `bprwire scatter`: a [`FeatureLayout`] written as
//! JSON, read by the library's [`FeatureLayout::from_json`] (module
//! `bprwire::features::json` describes the format and every check).

use std::path::Path;

use bprwire::features::FeatureLayout;

use super::error::CliError;
use super::limits::{self, Cap};

/// Reads and checks the layout file `path` (at most
/// [`limits::LAYOUT_BYTES`]); every error names it.
pub fn read(path: &Path) -> Result<FeatureLayout, CliError> {
    let cap = Cap {
        bytes: limits::LAYOUT_BYTES,
        flag: None,
    };
    let text = limits::read_capped(path, cap, "a layout file")?;
    FeatureLayout::from_json(&text).map_err(|msg| CliError::file(path, format!("not a valid layout: {msg}")))
}
