//! The closed sets a run row holds: what started the run and where it stands. Stored and
//! shown as the words users filter by (`?status=failed`, `trigger=api`).

use crate::judge::verdict::Outcome;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Its plan's schedule fired.
    Schedule,
    /// `POST /api/v1/plans/{name}/run` (or `loadpacer trigger`).
    Api,
    /// `serve --run-on-start`.
    Startup,
    /// The segments of a distributed run, merged once all reported.
    Segments,
}

impl Trigger {
    pub const ALL: [Trigger; 4] = [
        Trigger::Schedule,
        Trigger::Api,
        Trigger::Startup,
        Trigger::Segments,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Api => "api",
            Trigger::Startup => "startup",
            Trigger::Segments => "segments",
        }
    }
}

/// Where a run stands: running, or finished with its verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    Finished(Outcome),
}

impl RunStatus {
    /// Every status, `running` first then the outcomes.
    pub fn all() -> impl Iterator<Item = RunStatus> {
        std::iter::once(RunStatus::Running).chain(Outcome::ALL.map(RunStatus::Finished))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Finished(o) => o.as_str(),
        }
    }

    /// The verdict, once the run finished.
    pub fn outcome(self) -> Option<Outcome> {
        match self {
            RunStatus::Running => None,
            RunStatus::Finished(o) => Some(o),
        }
    }
}

/// Both sets read and write as their words, in SQLite and in JSON.
macro_rules! as_words {
    ($t:ty, $all:expr) => {
        impl std::str::FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $all.into_iter().find(|v| v.as_str() == s).ok_or_else(|| {
                    let words: Vec<&str> = $all.into_iter().map(|v| v.as_str()).collect();
                    format!("{s:?} is not one of {}", words.join(", "))
                })
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $t {
            fn column_result(v: ValueRef<'_>) -> FromSqlResult<Self> {
                v.as_str()?
                    .parse()
                    .map_err(|e: String| FromSqlError::Other(e.into()))
            }
        }
    };
}

as_words!(Trigger, Trigger::ALL);
as_words!(RunStatus, RunStatus::all());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_reads_back_and_others_are_refused() {
        for t in Trigger::ALL {
            assert_eq!(t.as_str().parse::<Trigger>(), Ok(t));
        }
        for s in RunStatus::all() {
            assert_eq!(s.as_str().parse::<RunStatus>(), Ok(s));
        }
        assert_eq!(RunStatus::all().count(), 7);
        let e = "done".parse::<RunStatus>().unwrap_err();
        assert!(e.contains("not one of running, passed, failed"), "{e}");
        assert!("cron".parse::<Trigger>().is_err());
    }
}
