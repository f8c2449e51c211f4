//! The relay's options judged together, as `serve` refuses them at start (exit 2) and
//! `config check` reports them: a lease that hands deliveries still in flight to another
//! instance, and a bound on open deliveries that refuses every event with a target.

use anyhow::bail;

use super::ServeArgs;
use crate::cli::values::StoreSpec;

/// On PostgreSQL, a claimed delivery is its instance's for `--store-lease`; one still in
/// flight when the lease runs out is taken and sent again by another instance. The lease
/// must outlast the longest attempt, `--forward-timeout`.
pub fn lease(args: &ServeArgs) -> anyhow::Result<()> {
    if !matches!(args.store, StoreSpec::Postgres(_)) || args.store_lease > args.forward_timeout {
        return Ok(());
    }
    bail!(
        "--store-lease {} is not longer than --forward-timeout {}: a delivery still in flight \
         when its lease runs out would be attempted again by another instance on the database; \
         give a --store-lease above --forward-timeout",
        humantime::format_duration(args.store_lease),
        humantime::format_duration(args.forward_timeout),
    )
}

/// `--max-pending 0` leaves no room for the delivery of any event that has a target: each
/// would be answered 503. Stored endpoints are not known before the store is open; those
/// of the options and of the config file are.
pub fn max_pending(args: &ServeArgs) -> anyhow::Result<()> {
    let targets =
        !args.forward_to.is_empty() || !args.route.is_empty() || !args.file_endpoints.is_empty();
    if args.max_pending > 0 || !targets {
        return Ok(());
    }
    bail!(
        "--max-pending 0 would refuse every event that has a target (503): no delivery could \
         be queued for --forward-to, --route or the endpoints; give at least 1"
    )
}
