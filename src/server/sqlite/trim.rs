//! Making room: evicting the oldest events beyond `--max-events` and dropping those past
//! `--retention`, each with its finished deliveries. Open deliveries outlive their event,
//! holding a copy of the body, until they finish.

use rusqlite::{Connection, OptionalExtension, params};

use super::ops::Result;
use super::{Counts, status_from_sql};

pub fn evict_oldest(conn: &Connection, counts: &mut Counts) -> Result<bool> {
    let oldest: Option<(i64, i64)> = conn
        .prepare_cached("SELECT seq, event_id FROM events ORDER BY seq LIMIT 1")?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    match oldest {
        Some((seq, event_id)) => {
            drop_event(conn, counts, seq, event_id)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Removes an event and its finished deliveries. Open deliveries stay, with a copy of the
/// body they still owe, until they finish.
fn drop_event(conn: &Connection, counts: &mut Counts, seq: i64, event_id: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE deliveries SET body = (SELECT body FROM events WHERE seq = ?1)
         WHERE event_id = ?2 AND event_seq = ?1 AND status IN ('pending', 'in_flight', 'failed')",
    )?
    .execute(params![seq, event_id])?;
    let finished: Vec<(i64, String)> = conn
        .prepare_cached(
            "SELECT id, status FROM deliveries
             WHERE event_id = ?2 AND event_seq = ?1 AND status IN ('delivered', 'dead')",
        )?
        .query_map(params![seq, event_id], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_>>()?;
    for (id, status) in finished {
        forget_delivery(conn, id)?;
        counts.add(status_from_sql(&status)?, -1);
    }
    conn.prepare_cached("DELETE FROM events WHERE seq = ?1")?
        .execute([seq])?;
    counts.events -= 1;
    Ok(())
}

pub fn forget_delivery(conn: &Connection, id: i64) -> Result<()> {
    conn.prepare_cached("DELETE FROM attempts WHERE delivery_id = ?1")?
        .execute([id])?;
    conn.prepare_cached("DELETE FROM deliveries WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

/// Drops events received before `cutoff`, oldest first; stops at the first newer one, as
/// arrival order follows the clock.
pub fn expire(conn: &Connection, counts: &mut Counts, cutoff: i64) -> Result<()> {
    loop {
        let old: Option<(i64, i64)> = conn
            .prepare_cached(
                "SELECT seq, event_id FROM events WHERE seq = (SELECT min(seq) FROM events)
                 AND received_at < ?1",
            )?
            .query_row([cutoff], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        let Some((seq, event_id)) = old else {
            return Ok(());
        };
        drop_event(conn, counts, seq, event_id)?;
        counts.evicted += 1;
    }
}
