//! hookrelay: receive webhook events, validate them, keep them, and relay them.

pub mod alert;
pub mod alloc;
pub mod cli;
pub mod model;
pub mod server;
pub mod source;
mod sync;
mod words;
