//! Feature `internals`: what benches, tests and the CLI's `bench` reach
//! that is not a stable API.

pub mod workloads;
