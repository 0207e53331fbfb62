//! # init-settings — an integer setting within its allowed range
//!
//! Every function reads its settings once at init and refuses a bad one before serving. The
//! integer settings (the authorizer's `LEEWAY_SECONDS`, `MAX_TOKEN_BYTES`, `JWKS_*`,
//! `MEMO_CAPACITY`; crud's `MAX_BODY_BYTES`, `MAX_JSON_DEPTH`, `RATE_LIMIT_PER_MINUTE`,
//! `IDEMPOTENCY_TTL_SECONDS`; the local gateway's ports and throttles) all go through
//! [`bounded`], so they share one rule (a decimal integer, surrounding blanks ignored, within
//! `min..=max`) and one error, [`OutOfRange`], which names the setting and the allowed range.

use std::fmt;

/// An integer setting that is not an integer in `min..=max`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfRange {
    /// The setting's name (`MAX_BODY_BYTES`).
    pub name: &'static str,
    pub min: u64,
    pub max: u64,
    /// The value as given.
    pub got: String,
}

impl OutOfRange {
    /// What is wrong, without the setting's name: `must be an integer in 1..=64 (got "65")`.
    pub fn problem(&self) -> String {
        format!(
            "must be an integer in {}..={} (got {:?})",
            self.min, self.max, self.got
        )
    }
}

impl fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.problem())
    }
}

impl std::error::Error for OutOfRange {}

/// The integer setting `name`: `default` when `raw` is `None` (unset; the caller decides whether
/// a blank value counts as unset), else `raw` as a decimal integer in `min..=max` (blanks around
/// it ignored).
pub fn bounded(
    name: &'static str,
    raw: Option<&str>,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, OutOfRange> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    match raw.trim().parse::<u64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(OutOfRange {
            name,
            min,
            max,
            got: raw.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_is_the_default_and_a_value_must_be_in_range() {
        assert_eq!(bounded("N", None, 7, 1, 10), Ok(7));
        assert_eq!(bounded("N", Some(" 10 "), 7, 1, 10), Ok(10));
        assert_eq!(bounded("N", Some("1"), 7, 1, 10), Ok(1));
        assert_eq!(bounded("N", Some("0"), 7, 0, 0), Ok(0));
        for bad in [
            "0",
            "11",
            "-1",
            "+",
            "",
            " ",
            "1.5",
            "1e3",
            "0x10",
            "ten",
            "18446744073709551616",
        ] {
            let e = bounded("N", Some(bad), 7, 1, 10).unwrap_err();
            assert_eq!(
                e,
                OutOfRange {
                    name: "N",
                    min: 1,
                    max: 10,
                    got: bad.to_string()
                }
            );
        }
    }

    #[test]
    fn the_error_names_the_setting_and_the_range() {
        let e = bounded("MAX_JSON_DEPTH", Some("65"), 32, 1, 64).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"MAX_JSON_DEPTH must be an integer in 1..=64 (got "65")"#
        );
        assert_eq!(e.problem(), r#"must be an integer in 1..=64 (got "65")"#);
    }
}
