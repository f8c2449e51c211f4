//! The integration tests, one binary for all of them: each module is one area, and
//! `support` holds the helpers they share. Run one area with `cargo test --test it serve::`.

mod support;

mod browser;
mod browser_actions;
mod cli;
mod completions;
mod config_file;
mod endpoints;
mod endpoints_options;
mod hardening;
mod hardening_cli;
mod hostile_json;
mod listen;
mod model_props;
mod relay;
mod relay_mistakes;
mod relay_process;
mod repo_checks;
mod send;
mod sender_faults;
mod serve;
mod signing;
mod sources;
mod store_migration;
mod store_sqlite;
mod store_sqlite_relay;
mod validate;
