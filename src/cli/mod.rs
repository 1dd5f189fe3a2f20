//! The `bprwire` command line: everything the binary needs that the
//! library does not (argument parsing, `.npy` reading, output files). It
//! lives beside `main.rs`, not in the library, so the library never
//! depends on clap or npyz.

pub mod bench;
pub mod demo;
pub mod encode;
pub mod error;
pub mod inspect;
pub mod json;
pub mod npy;
pub mod output;
