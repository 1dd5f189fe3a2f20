//! The `bprwire` command line: everything the binary needs that the
//! library does not (argument parsing, output files). It lives beside
//! `main.rs`, not in the library, so the library never depends on clap.
//! `.npy` reading is the library's `npy` module (feature `npy`), so that
//! the fuzz targets reach it too.

pub mod bench;
pub mod demo;
pub mod encode;
pub mod error;
pub mod inspect;
pub mod json;
pub mod layout;
pub mod limits;
pub mod output;
pub mod scatter;
pub mod signals;
