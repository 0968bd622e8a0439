//! The lossless form of what a run recorded, as it travels in a segment's summary.json: every
//! histogram as HdrHistogram's V2 format, deflated and base64-encoded (what HdrHistogram's own
//! tools exchange), so that merging segments gives the percentiles one process would have
//! measured. Used through `#[serde(with = ...)]` on the recorder's types.
//!
//! Reading is bounded: a histogram states its own payload length and range, so a few KB of
//! deflated input could otherwise claim gigabytes. Each histogram is inflated through a limit
//! ([`MAX_INFLATED_BYTES`]), its header is checked against the precision loadpacer records
//! (3 significant digits) before anything is allocated, and the histograms of one summary
//! share a budget ([`SUMMARY_BUDGET_BYTES`]) set by [`bounded`].

use super::histo::{new_histo, Histo};
use base64::Engine;
use flate2::read::ZlibDecoder;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer as SerdeDeserializer, Serializer as SerdeSerializer};
use std::cell::Cell;
use std::io::Read;

/// The significant digits loadpacer records with; a histogram claiming more is refused.
const DIGITS: u32 = 3;
/// Counts of a 3-digit histogram over the whole u64 range (checked in a test): the most
/// buckets any histogram loadpacer wrote can have.
const MAX_COUNTS: usize = 56_320;
/// A V2 header: cookie, payload length, normalizing offset, digits, low, high, ratio.
const V2_HEADER: usize = 40;
/// The largest inflated V2 form of such a histogram: the header and 9 bytes per count (the
/// longest LEB128 varint).
pub const MAX_INFLATED_BYTES: usize = V2_HEADER + 9 * MAX_COUNTS;
/// What the histograms of one summary may take in memory once read (a plan of a hundred
/// steps, each with its latency histograms at full range, fits).
pub const SUMMARY_BUDGET_BYTES: usize = 256 * 1024 * 1024;

const V2_COOKIE: u32 = 0x1c84_9303 | 0x10;
const V2_DEFLATE_COOKIE: u32 = 0x1c84_9304 | 0x10;

thread_local! {
    /// Bytes the histograms being read may still take; `None` outside [`bounded`].
    static BUDGET: Cell<Option<usize>> = const { Cell::new(None) };
    /// Set when a histogram was refused for a bound (not for being malformed).
    static OVER: Cell<bool> = const { Cell::new(false) };
}

/// Runs `read` (a deserialization of one summary) with the histograms it reads sharing
/// [`SUMMARY_BUDGET_BYTES`]; the flag says whether anything was refused for a size bound,
/// so callers can count those refusals apart from malformed input.
pub fn bounded<T>(read: impl FnOnce() -> T) -> (T, bool) {
    let before = BUDGET.with(|b| b.replace(Some(SUMMARY_BUDGET_BYTES)));
    OVER.with(|o| o.set(false));
    let out = read();
    BUDGET.with(|b| b.set(before));
    (out, OVER.with(|o| o.replace(false)))
}

fn over(why: String) -> String {
    OVER.with(|o| o.set(true));
    why
}

/// Takes `bytes` from the summary's budget, or refuses.
fn charge(bytes: usize) -> Result<(), String> {
    BUDGET.with(|b| match b.get() {
        Some(left) if bytes > left => Err(over(format!(
            "the summary's histograms take more than {} MiB in memory; a segment of one plan never does",
            SUMMARY_BUDGET_BYTES >> 20
        ))),
        Some(left) => {
            b.set(Some(left - bytes));
            Ok(())
        }
        None => Ok(()),
    })
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn be_u64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The plain V2 form of `bytes` (inflated when deflated), read through the bound.
fn inflate(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let malformed = || "a histogram is not HdrHistogram V2".to_string();
    if bytes.len() < 8 {
        return Err(malformed());
    }
    match be_u32(bytes, 0) {
        V2_COOKIE if bytes.len() <= MAX_INFLATED_BYTES => Ok(bytes.to_vec()),
        V2_DEFLATE_COOKIE => {
            let mut plain = Vec::new();
            ZlibDecoder::new(&bytes[8..])
                .take(MAX_INFLATED_BYTES as u64 + 1)
                .read_to_end(&mut plain)
                .map_err(|_| malformed())?;
            if plain.len() > MAX_INFLATED_BYTES {
                return Err(over(format!(
                    "a histogram inflates to more than {MAX_INFLATED_BYTES} bytes, the most a 3-digit histogram takes"
                )));
            }
            Ok(plain)
        }
        V2_COOKIE => Err(over(format!(
            "a histogram is {} bytes; the most a 3-digit histogram takes is {MAX_INFLATED_BYTES}",
            bytes.len()
        ))),
        _ => Err(malformed()),
    }
}

/// Checks a plain V2 histogram's header against what loadpacer writes, before the
/// deserializer allocates by it.
fn check_header(plain: &[u8]) -> Result<(), String> {
    if plain.len() < V2_HEADER || be_u32(plain, 0) != V2_COOKIE {
        return Err("a histogram is not HdrHistogram V2".into());
    }
    let payload = be_u32(plain, 4) as usize;
    if payload != plain.len() - V2_HEADER {
        return Err(format!(
            "a histogram states {payload} bytes of counts but holds {}",
            plain.len() - V2_HEADER
        ));
    }
    let (digits, low, high) = (be_u32(plain, 12), be_u64(plain, 16), be_u64(plain, 24));
    // `high / 2 < low` is HdrHistogram's `high >= 2 * low`, without overflowing for a crafted `low`.
    if !(1..=DIGITS).contains(&digits) || low == 0 || high / 2 < low {
        return Err(over(format!(
            "a histogram has {digits} significant digits over {low}..{high}; loadpacer records 1 to {DIGITS} digits from 1 up"
        )));
    }
    Ok(())
}

fn encode(h: &Histo) -> Result<String, String> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .map_err(|e| format!("cannot encode a histogram: {e:?}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

fn decode(text: &str) -> Result<Histo, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("a histogram is not base64: {e}"))?;
    let plain = inflate(&bytes)?;
    check_header(&plain)?;
    let read: Histo = Deserializer::new()
        .deserialize(&mut plain.as_slice())
        .map_err(|_| "a histogram is not HdrHistogram V2".to_string())?;
    charge(read.distinct_values() * 8)?;
    // Into one of ours (3 digits, grown on demand), so that merging never drops a value.
    let mut h = new_histo();
    h.add(&read)
        .map_err(|_| "a histogram's values do not fit a latency histogram".to_string())?;
    charge(h.distinct_values() * 8)?;
    Ok(h)
}

/// A histogram as base64 text.
pub mod histo {
    use super::*;

    pub fn serialize<S: SerdeSerializer>(h: &Histo, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(h).map_err(serde::ser::Error::custom)?)
    }

    pub fn deserialize<'de, D: SerdeDeserializer<'de>>(d: D) -> Result<Histo, D::Error> {
        decode(&String::deserialize(d)?).map_err(D::Error::custom)
    }
}

/// An optional histogram as base64 text or null.
pub mod opt_histo {
    use super::*;

    pub fn serialize<S: SerdeSerializer>(h: &Option<Histo>, s: S) -> Result<S::Ok, S::Error> {
        match h {
            Some(h) => s.serialize_some(&encode(h).map_err(serde::ser::Error::custom)?),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: SerdeDeserializer<'de>>(d: D) -> Result<Option<Histo>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| decode(&t).map_err(D::Error::custom))
            .transpose()
    }
}

/// A float that may be infinite (an empty minimum), as a number or null.
pub mod extreme {
    use super::*;

    pub fn serialize<S: SerdeSerializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_some(v)
        } else {
            s.serialize_none()
        }
    }

    /// Null is the empty value: +∞ for a minimum, −∞ for a maximum, given by `empty`.
    pub fn deserialize_min<'de, D: SerdeDeserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
    }

    pub fn deserialize_max<'de, D: SerdeDeserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NEG_INFINITY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_survives_the_trip_exactly() {
        let mut h = new_histo();
        for v in [1u64, 7, 950, 12_345, 3_000_000, 3_000_000] {
            h.record(v).unwrap();
        }
        let back = decode(&encode(&h).unwrap()).unwrap();
        assert_eq!(back.len(), h.len());
        for q in [0.0, 0.5, 0.9, 0.99, 1.0] {
            assert_eq!(back.value_at_quantile(q), h.value_at_quantile(q));
        }
        assert_eq!((back.min(), back.max()), (h.min(), h.max()));
        assert!(decode("not base64!").unwrap_err().contains("base64"));
        assert!(decode("AAAA").unwrap_err().contains("V2"));
    }
}

#[cfg(test)]
mod bounds {
    use super::*;
    use flate2::write::ZlibEncoder;
    use std::io::Write;

    fn deflated(plain: &[u8]) -> String {
        let mut z = ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(plain).unwrap();
        let body = z.finish().unwrap();
        let mut out = V2_DEFLATE_COOKIE.to_be_bytes().to_vec();
        out.extend((body.len() as u32).to_be_bytes());
        out.extend(body);
        base64::engine::general_purpose::STANDARD.encode(out)
    }

    fn header(payload: u32, digits: u32, low: u64, high: u64) -> Vec<u8> {
        let mut h = V2_COOKIE.to_be_bytes().to_vec();
        h.extend(payload.to_be_bytes());
        h.extend(0u32.to_be_bytes());
        h.extend(digits.to_be_bytes());
        h.extend(low.to_be_bytes());
        h.extend(high.to_be_bytes());
        h.extend(1.0f64.to_be_bytes());
        h
    }

    #[test]
    fn max_counts_is_a_full_range_three_digit_histogram() {
        let h = Histo::new_with_bounds(1, u64::MAX, 3).unwrap();
        assert_eq!(h.distinct_values(), MAX_COUNTS);
    }

    #[test]
    fn h3_a_histogram_claiming_gigabytes_is_refused_before_allocating() {
        // 5 digits over the whole range: what the 2 GB probe sent.
        let wide = deflated(&header(0, 5, 1, u64::MAX));
        let (r, over) = bounded(|| decode(&wide));
        assert!(r.unwrap_err().contains("significant digits"));
        assert!(over);
        // A lowest value whose double does not fit: refused, never an overflow.
        let huge = deflated(&header(0, 3, u64::MAX, u64::MAX));
        assert!(decode(&huge).unwrap_err().contains("significant digits"));
        // A payload length of 4 GB with nothing behind it.
        let liar = deflated(&header(u32::MAX, 3, 1, 1 << 40));
        assert!(decode(&liar).unwrap_err().contains("states"));
        // Zeros that inflate to 64 MiB from a few KB.
        let mut plain = header(64 << 20, 3, 1, 1 << 40);
        plain.resize(plain.len() + (64 << 20), 0);
        let bomb = deflated(&plain);
        assert!(bomb.len() < 200_000, "the probe is small: {}", bomb.len());
        let (r, over) = bounded(|| decode(&bomb));
        assert!(r.unwrap_err().contains("inflates to more than"));
        assert!(over);
    }

    #[test]
    fn h3_many_histograms_share_one_summary_budget() {
        let mut full = new_histo();
        full.record(u64::MAX / 4).unwrap();
        let text = encode(&full).unwrap();
        let (results, over) = bounded(|| {
            (0..2_000)
                .map(|_| decode(&text))
                .take_while(Result::is_ok)
                .count()
        });
        assert!(over, "2,000 full-range histograms exceed the budget");
        let each = 2 * full.distinct_values() * 8;
        assert_eq!(results, SUMMARY_BUDGET_BYTES / each);
        // Outside a bounded read the budget does not apply, and a refusal does not stick.
        assert!(decode(&text).is_ok());
        assert!(!bounded(|| decode(&text)).1);
    }
}
