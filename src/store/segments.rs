//! The segments of distributed runs waiting to be merged, and the keys already merged.

use super::*;

impl Store {
    /// Keeps a segment of the distributed run `key` until the run is merged; `false` when
    /// that segment is already kept.
    pub fn add_segment(
        &self,
        key: &str,
        plan: &str,
        segment: u64,
        summary_json: &str,
    ) -> Result<bool, StoreError> {
        self.exec(|c| {
            c.execute(
                "INSERT OR IGNORE INTO segments (run_key, plan, segment, summary, received_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key, plan, segment as i64, summary_json, now_ms()],
            )
        })
        .map(|n| n == 1)
    }

    /// The kept segments of the distributed run `key`: (segment, summary), in order.
    pub fn segments(&self, key: &str) -> Result<Vec<(u64, String)>, StoreError> {
        self.exec(|c| {
            let mut st = c.prepare(
                "SELECT segment, summary FROM segments WHERE run_key = ?1 ORDER BY segment",
            )?;
            let rows = st.query_map(params![key], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
            })?;
            rows.collect()
        })
    }

    /// Distributed runs waiting for segments: (key, plan, when the first arrived, ms since
    /// the epoch), oldest first.
    pub fn waiting_runs(&self) -> Result<Vec<(String, String, i64)>, StoreError> {
        self.exec(|c| {
            let mut st = c.prepare(
                "SELECT run_key, MIN(plan), MIN(received_at) FROM segments GROUP BY run_key ORDER BY 3",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })
    }

    /// Forgets the segments of `key` and remembers that it was merged into run `run_id`,
    /// in one transaction.
    pub fn mark_merged(&self, key: &str, plan: &str, run_id: &str) -> Result<(), StoreError> {
        self.exec(|c| {
            let tx = c.unchecked_transaction()?;
            tx.execute("DELETE FROM segments WHERE run_key = ?1", params![key])?;
            tx.execute(
                "INSERT OR REPLACE INTO merged_keys (run_key, plan, run_id, merged_at) VALUES (?1, ?2, ?3, ?4)",
                params![key, plan, run_id, now_ms()],
            )?;
            tx.commit()
        })
    }

    /// The run that the distributed run `key` was merged into, if it was.
    pub fn merged_run(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.exec(|c| {
            c.query_row(
                "SELECT run_id FROM merged_keys WHERE run_key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// Forgets the segments of `key` (its run was stored).
    pub fn drop_segments(&self, key: &str) -> Result<(), StoreError> {
        self.exec(|c| c.execute("DELETE FROM segments WHERE run_key = ?1", params![key]))
            .map(|_| ())
    }
}
