//! Serde helpers for the optional fields of request bodies, so a body reads exactly as
//! the OpenAPI document says: an optional field is absent or a value, and `null` only
//! where the document allows it.

use serde::{Deserialize, Deserializer};

/// For `#[serde(default, deserialize_with = "fields::present")]`: `Some(value)` for a
/// field that is present. `null` is a value only where `T` takes it (`Option<_>`: so
/// `Option<Option<_>>` tells absent from `null`); elsewhere `null` is refused. Absent
/// stays `None`.
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(de: D) -> Result<Option<T>, D::Error> {
    T::deserialize(de).map(Some)
}

/// For `#[serde(default, deserialize_with = "fields::whole_number")]`: a count written as
/// any JSON number without a fraction (`3`, or `3.0` as JSON Schema's `integer` allows).
/// Negative or fractional numbers, and `null`, are refused; absent stays `None`.
pub fn whole_number<'de, D: Deserializer<'de>>(de: D) -> Result<Option<usize>, D::Error> {
    let number = serde_json::Number::deserialize(de)?;
    let whole = number.as_u64().or_else(|| {
        number.as_f64().filter(|n| n.fract() == 0.0 && *n >= 0.0 && *n < u64::MAX as f64).map(|n| n as u64)
    });
    whole
        .and_then(|n| usize::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("expected a whole number, not {number}")))
}
