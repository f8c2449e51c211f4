//! Making room: evicting the oldest events beyond `--max-events` and dropping those past
//! `--retention`, each with its finished deliveries and its verified webhook-ids, as one range delete per group commit.
//! Open deliveries outlive their event, holding a copy of the body, until they finish.

use rusqlite::{Connection, OptionalExtension};

use super::ops::Result;
use super::{Counts, status_from_sql};

/// Evicts the oldest events while there are more than `capacity`.
pub fn evict_excess(conn: &Connection, counts: &mut Counts, capacity: usize) -> Result<()> {
    let excess = counts.events.saturating_sub(capacity);
    if excess == 0 {
        return Ok(());
    }
    let last: Option<i64> = conn
        .prepare_cached("SELECT seq FROM events ORDER BY seq LIMIT 1 OFFSET ?1")?
        .query_row([excess as i64 - 1], |row| row.get(0))
        .optional()?;
    match last {
        Some(last) => drop_through(conn, counts, last),
        None => Ok(()),
    }
}

/// Drops events received before `cutoff`, oldest first, up to the first newer one (arrival
/// order follows the clock).
pub fn expire(conn: &Connection, counts: &mut Counts, cutoff: i64) -> Result<()> {
    let first_kept: Option<i64> = conn
        .prepare_cached("SELECT seq FROM events WHERE received_at >= ?1 ORDER BY seq LIMIT 1")?
        .query_row([cutoff], |row| row.get(0))
        .optional()?;
    let last = match first_kept {
        Some(seq) => seq - 1,
        None => i64::MAX,
    };
    drop_through(conn, counts, last)
}

/// Removes the events up to sequence number `last` and their finished deliveries; counts
/// them as evicted.
fn drop_through(conn: &Connection, counts: &mut Counts, last: i64) -> Result<()> {
    let has_deliveries = counts.by_status.iter().any(|&n| n > 0);
    if has_deliveries {
        // `event_seq` tells the event apart from an earlier one with the same id.
        conn.prepare_cached(
            "UPDATE deliveries SET body = (SELECT e.body FROM events e WHERE e.seq = event_seq)
             WHERE event IN (SELECT id FROM events WHERE seq <= ?1)
               AND event_seq <= ?1 AND body IS NULL
               AND status IN ('pending', 'in_flight', 'failed')",
        )?
        .execute([last])?;
        let finished: Vec<(i64, String)> = conn
            .prepare_cached(
                "SELECT id, status FROM deliveries
                 WHERE event IN (SELECT id FROM events WHERE seq <= ?1)
                   AND event_seq <= ?1 AND status IN ('delivered', 'dead')",
            )?
            .query_map([last], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_>>()?;
        for (id, status) in finished {
            forget_delivery(conn, id)?;
            counts.add(status_from_sql(&status)?, -1);
        }
    }
    // A webhook-id is a key only as long as the event it answered is kept. Looked for only
    // when there are any: the search gathers the dropped events' ids first.
    if counts.webhook_ids > 0 {
        let forgotten = conn
            .prepare_cached(
                "DELETE FROM webhook_ids
                 WHERE event IN (SELECT id FROM events WHERE seq <= ?1)",
            )?
            .execute([last])?;
        counts.webhook_ids = counts.webhook_ids.saturating_sub(forgotten);
    }
    let dropped = conn
        .prepare_cached("DELETE FROM events WHERE seq <= ?1")?
        .execute([last])?;
    if dropped > 0 && last >= counts.seq {
        // The newest event went too: its number must stay given after a restart.
        conn.prepare_cached(
            "INSERT INTO meta (key, value) VALUES ('seq_floor', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )?
        .execute([counts.seq])?;
    }
    counts.events -= dropped;
    counts.evicted += dropped as u64;
    Ok(())
}

pub fn forget_delivery(conn: &Connection, id: i64) -> Result<()> {
    conn.prepare_cached("DELETE FROM attempts WHERE delivery_id = ?1")?
        .execute([id])?;
    conn.prepare_cached("DELETE FROM deliveries WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

/// Events evicted or expired so far: every sequence number given and not kept, less those
/// that no event kept (the offset).
pub fn evicted(counts: &Counts) -> u64 {
    let given = i128::from(counts.seq) - counts.events as i128;
    u64::try_from(given + i128::from(counts.evicted_offset)).unwrap_or(0)
}
