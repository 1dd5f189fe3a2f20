//! The front ends: each protocol's module turns its calls into the
//! engine's protocol-neutral requests and the engine's replies and
//! refusals into its own answers; the connections of every port are held
//! to the same limits ([`conn`], [`stall`], [`web`] for the hyper-served
//! ones).

pub mod conn;
pub mod http;
pub mod kserve;
pub mod stall;
pub mod tfserving;
pub mod thrift;
pub mod web;
