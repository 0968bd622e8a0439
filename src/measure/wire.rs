//! The lossless form of what a run recorded, as it travels in a segment's summary.json: every
//! histogram as HdrHistogram's V2 format, deflated and base64-encoded (what HdrHistogram's own
//! tools exchange), so that merging segments gives the percentiles one process would have
//! measured. Used through `#[serde(with = ...)]` on the recorder's types.

use super::histo::{new_histo, Histo};
use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer as SerdeDeserializer, Serializer as SerdeSerializer};

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
    let read: Histo = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("a histogram is not HdrHistogram V2: {e:?}"))?;
    // Into one of ours (3 digits, grown on demand), so that merging never drops a value.
    let mut h = new_histo();
    h.add(&read)
        .map_err(|e| format!("a histogram does not fit: {e:?}"))?;
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
