//! Strict JSON building blocks for JOSE headers and claims.
//!
//! `serde`'s defaults are wrong for a verifier: an `Option` field treats `null` as absent, a struct
//! accepts a JSON array positionally, and unknown members are skipped without looking at them
//! (so a duplicated unknown member passes). The pieces here close those gaps without building a
//! `serde_json::Value`. They are the reference the verification path's one-pass reader
//! ([`crate::reader`]) is compared with (unit tests, the `token_parse` fuzz target):
//! - [`Str`], [`Num`], [`StrList`]: a present member must have exactly its type (`null` included:
//!   it is a wrong type, never an absence);
//! - [`Unique`]: consumes any value, refusing duplicate member names at every depth;
//! - [`Members`]: walks a JSON *object* (anything else is refused) and refuses a member name seen
//!   twice, after unescaping (so `"i\u0073s"` and `"iss"` are the same name).
//!
//! Strings are UTF-8 checked by `serde_json` (invalid or overlong UTF-8 and lone surrogate escapes
//! are refused); numbers outside the `f64` range (`1e400`) are refused.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON string (borrowed from the input when it has no escapes).
pub struct Str<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A JSON number (integer or not), as a finite `f64`.
pub struct Num(pub f64);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
                if v.is_finite() {
                    Ok(Num(v))
                } else {
                    Err(E::custom("number out of range"))
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
                Ok(Num(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
                Ok(Num(v as f64))
            }
        }
        d.deserialize_f64(V)
    }
}

/// A JSON array of strings.
pub struct StrList(pub Vec<String>);

impl<'de> Deserialize<'de> for StrList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrList, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(Str(s)) = seq.next_element::<Str<'de>>()? {
                    out.push(s.into_owned());
                }
                Ok(StrList(out))
            }
        }
        d.deserialize_seq(V)
    }
}

/// Any JSON value, checked for duplicate member names at every depth and then dropped.
pub struct Unique;

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Unique;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Unique, E> {
                Ok(Unique)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Unique, E> {
                Ok(Unique)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Unique, E> {
                Ok(Unique)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Unique, E> {
                if v.is_finite() {
                    Ok(Unique)
                } else {
                    Err(E::custom("number out of range"))
                }
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Unique, E> {
                Ok(Unique)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Unique, E> {
                Ok(Unique)
            }
            fn visit_none<E: de::Error>(self) -> Result<Unique, E> {
                Ok(Unique)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Unique, A::Error> {
                while seq.next_element::<Unique>()?.is_some() {}
                Ok(Unique)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Unique, A::Error> {
                Members::new(map).skip_rest()?;
                Ok(Unique)
            }
        }
        d.deserialize_any(V)
    }
}

/// Any JSON value, checked like [`Unique`] (member names unique at every depth); a string is kept,
/// any other type reads as absent. For claims nobody types (Cognito's `origin_jti`): a mistyped
/// one is not a refusal (aws-jwt-verify accepts it too), it just names nothing.
pub struct StrOrOther(pub Option<String>);

impl<'de> Deserialize<'de> for StrOrOther {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrOrOther;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<StrOrOther, E> {
                Ok(StrOrOther(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<StrOrOther, E> {
                Ok(StrOrOther(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<StrOrOther, E> {
                Ok(StrOrOther(None))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<StrOrOther, E> {
                if v.is_finite() {
                    Ok(StrOrOther(None))
                } else {
                    Err(E::custom("number out of range"))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StrOrOther, E> {
                Ok(StrOrOther(Some(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<StrOrOther, E> {
                Ok(StrOrOther(Some(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<StrOrOther, E> {
                Ok(StrOrOther(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<StrOrOther, E> {
                Ok(StrOrOther(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrOrOther, A::Error> {
                while seq.next_element::<Unique>()?.is_some() {}
                Ok(StrOrOther(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<StrOrOther, A::Error> {
                Members::new(map).skip_rest()?;
                Ok(StrOrOther(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// Walks the members of one JSON object, refusing a name seen twice.
pub struct Members<'de, A> {
    map: A,
    seen: Vec<Cow<'de, str>>,
}

impl<'de, A: MapAccess<'de>> Members<'de, A> {
    pub fn new(map: A) -> Self {
        Members {
            map,
            seen: Vec::with_capacity(24),
        }
    }

    /// The next member name (unique so far), or `None` at the end of the object.
    pub fn next_name(&mut self) -> Result<Option<Cow<'de, str>>, A::Error> {
        let Some(Str(name)) = self.map.next_key::<Str<'de>>()? else {
            return Ok(None);
        };
        if self.seen.contains(&name) {
            return Err(de::Error::custom("duplicate member"));
        }
        self.seen.push(name.clone());
        Ok(Some(name))
    }

    /// The value of the member just named, with its exact type.
    pub fn value<T: Deserialize<'de>>(&mut self) -> Result<T, A::Error> {
        self.map.next_value()
    }

    /// Check (and drop) the value of the member just named.
    pub fn skip_value(&mut self) -> Result<(), A::Error> {
        self.map.next_value::<Unique>().map(|_| ())
    }

    /// Check (and drop) every remaining member.
    pub fn skip_rest(mut self) -> Result<(), A::Error> {
        while self.next_name()?.is_some() {
            self.skip_value()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unique(s: &str) -> bool {
        serde_json::from_str::<Unique>(s).is_ok()
    }

    #[test]
    fn unique_refuses_duplicates_at_every_depth() {
        assert!(unique(r#"{"a":1,"b":{"c":[{"d":1,"e":2}]}}"#));
        assert!(!unique(r#"{"a":1,"a":1}"#));
        assert!(!unique(r#"{"a":{"x":1,"x":2}}"#));
        assert!(!unique(r#"[{"x":1,"x":2}]"#));
        assert!(!unique(r#"{"iss":1,"i\u0073s":1}"#));
        assert!(unique(
            r#"{"a":null,"b":true,"c":-0,"d":1.5e3,"e":"\u00e9"}"#
        ));
    }

    #[test]
    fn scalars_and_strings_are_strict() {
        assert!(!unique("1e400"));
        assert!(!unique(r#""\ud800""#), "lone surrogate escape");
        assert!(
            serde_json::from_slice::<Unique>(b"\"\xff\"").is_err(),
            "invalid UTF-8"
        );
        assert!(
            serde_json::from_slice::<Unique>(b"\"\xc0\xaf\"").is_err(),
            "overlong UTF-8"
        );
        assert!(serde_json::from_str::<Num>("null").is_err());
        assert!(serde_json::from_str::<Num>("\"1\"").is_err());
        assert!(serde_json::from_str::<Num>("1e400").is_err());
        assert_eq!(serde_json::from_str::<Num>("1e10").unwrap().0, 1e10);
        assert_eq!(serde_json::from_str::<Num>("-7").unwrap().0, -7.0);
        assert!(serde_json::from_str::<Str>("null").is_err());
        assert!(serde_json::from_str::<Str>("1").is_err());
        assert_eq!(serde_json::from_str::<Str>(r#""a\u0062""#).unwrap().0, "ab");
        assert!(serde_json::from_str::<StrList>("null").is_err());
        assert!(serde_json::from_str::<StrList>(r#"["a",1]"#).is_err());
        assert!(serde_json::from_str::<StrList>(r#""a""#).is_err());
        assert_eq!(
            serde_json::from_str::<StrList>(r#"["a","b"]"#).unwrap().0,
            vec!["a", "b"]
        );
    }
}
