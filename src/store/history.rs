//! A plan's finished runs as figures, for trends.

use super::*;

/// A run's headline figures, read inside SQLite from its stored summary.
const HISTORY_SQL: &str = "SELECT id, trigger, status, started_at, finished_at,
                json_extract(summary, '$.totals.requests'),
                json_extract(summary, '$.totals.latency.p50_ms'),
                json_extract(summary, '$.totals.latency.p95_ms'),
                json_extract(summary, '$.totals.latency.p99_ms'),
                json_extract(summary, '$.totals.error_rate'),
                json_extract(summary, '$.totals.rps'),
                json_extract(summary, '$.capacity.capacity_rps'),
                json_extract(summary, '$.capacity.capacity_at_least_rps'),
                json_extract(summary, '$.regression.regressed'),
                json_extract(summary, '$.regression.baseline'),
                (SELECT count(*) FROM json_each(summary, '$.thresholds')
                  WHERE json_extract(value, '$.verdict') != 'pass'),
                json_array_length(summary, '$.thresholds'),
                rowid, CAST(id AS BLOB),
                json_array_length(summary, '$.streams'),
                (SELECT sum(json_extract(value, '$.sessions')) FROM json_each(summary, '$.streams')),
                (SELECT max(json_extract(value, '$.connect.p95_ms')) FROM json_each(summary, '$.streams')),
                (SELECT max(json_extract(value, '$.rtt.p95_ms')) FROM json_each(summary, '$.streams')),
                (SELECT sum(json_extract(value, '$.messages_per_s')) FROM json_each(summary, '$.streams')),
                (SELECT sum(e.value) FROM json_each(summary, '$.streams') AS s,
                        json_each(s.value, '$.ends') AS e WHERE e.key != 'normal')
                 FROM runs
                 WHERE plan = ?1 AND finished_at IS NOT NULL AND json_valid(summary)
                   AND (?2 IS NULL OR started_at >= ?2) AND (?3 IS NULL OR started_at < ?3)
                 ORDER BY started_at DESC, id DESC LIMIT ?4";

/// The figures of one row of [`HISTORY_SQL`].
fn run_figures(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunFigures> {
    let requests: Option<u64> = r.get(5)?;
    // Without a request there is no latency or error rate, only zeros.
    let measured = |i| -> rusqlite::Result<Option<f64>> {
        Ok(if requests.unwrap_or(0) == 0 {
            None
        } else {
            r.get(i)?
        })
    };
    Ok(RunFigures {
        id: r.get(0)?,
        trigger: r.get(1)?,
        status: r.get(2)?,
        started_at: r.get(3)?,
        finished_at: r.get(4)?,
        requests,
        p50_ms: measured(6)?,
        p95_ms: measured(7)?,
        p99_ms: measured(8)?,
        error_rate: measured(9)?,
        rps: r.get(10)?,
        capacity_rps: r.get(11)?,
        capacity_at_least_rps: r.get(12)?,
        regressed: r.get(13)?,
        baseline: r.get(14)?,
        thresholds_failed: r.get::<_, Option<u32>>(15)?.unwrap_or(0),
        thresholds: r.get::<_, Option<u32>>(16)?.unwrap_or(0),
        streams: match r.get::<_, Option<u32>>(19)? {
            Some(n) if n > 0 => Some(StreamFigures {
                sessions: r.get::<_, Option<u64>>(20)?.unwrap_or(0),
                connect_p95_ms: r.get(21)?,
                reply_p95_ms: r.get(22)?,
                messages_per_s: r.get::<_, Option<f64>>(23)?.unwrap_or(0.0),
                abnormal_ends: r.get::<_, Option<u64>>(24)?.unwrap_or(0),
            }),
            _ => None,
        },
    })
}

impl Store {
    /// A plan's finished runs with their headline figures, oldest first: the newest `limit`
    /// that started in `[since, until)` (Unix ms). The figures are read inside SQLite from
    /// the stored summaries, so a long history costs a few numbers per run, not the JSON.
    pub fn history(
        &self,
        plan: &str,
        since: Option<i64>,
        until: Option<i64>,
        limit: u32,
    ) -> Result<Vec<RunFigures>, StoreError> {
        self.exec(|c| {
            let mut st = c.prepare(HISTORY_SQL)?;
            let rows = st.query_map(params![plan, since, until, limit], |r| {
                let figures = run_figures(r);
                Ok((
                    r.get(17)?,
                    r.get::<_, Option<Vec<u8>>>(18)?.unwrap_or_default(),
                    figures,
                ))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
        .map(|rows| {
            let mut v = self.readable(rows);
            v.reverse();
            v
        })
    }
}
