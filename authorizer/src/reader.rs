//! The verification path's strict JSON reader: one pass over the bytes, no `serde` visitor, no
//! allocation for a string without escapes (it is borrowed from the input).
//!
//! It reads exactly the language of the `serde_json`-based readers in [`crate::json`] (which stay
//! as its reference: `claims::parse_reference`, `token::Header`'s `Deserialize`; the unit tests
//! and the fuzz target `token_parse` compare the two on generated and fuzzed inputs):
//! - RFC 8259 JSON, UTF-8 (checked once for the whole input), whitespace of space, tab, CR, LF;
//! - objects' member names unique after unescaping, at every depth;
//! - strings: no raw control characters; escapes `\" \\ \/ \b \f \n \r \t \uXXXX`; a `\u`
//!   surrogate only as a high-low pair (a lone surrogate is refused);
//! - numbers: JSON's grammar (no leading zeros, no `+`, no bare `.`), parsed correctly rounded,
//!   refused when outside the `f64` range (`1e400`);
//! - at most [`MAX_DEPTH`] levels of arrays and objects (`serde_json`'s limit).

use std::borrow::Cow;

/// Deepest nesting of arrays and objects accepted (as `serde_json`'s recursion limit).
pub const MAX_DEPTH: usize = 127;

/// The input is not accepted (what exactly is not said: callers map it to one reason code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid;

type R<T> = Result<T, Invalid>;

/// A cursor over one JSON text.
pub struct Reader<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    depth: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`, which must be UTF-8.
    pub fn new(bytes: &'a [u8]) -> R<Reader<'a>> {
        let s = std::str::from_utf8(bytes).map_err(|_| Invalid)?;
        Ok(Reader {
            s,
            b: bytes,
            i: 0,
            depth: 0,
        })
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// The next significant byte (whitespace skipped), not consumed.
    pub fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// Nothing but whitespace is left.
    pub fn end(mut self) -> R<()> {
        self.ws();
        if self.i == self.b.len() {
            Ok(())
        } else {
            Err(Invalid)
        }
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            Err(Invalid)
        } else {
            Ok(())
        }
    }

    /// An object: `f(name, reader)` is called for each member and must read its value. A name
    /// seen before in this object (after unescaping) is refused.
    pub fn object(&mut self, mut f: impl FnMut(&str, &mut Reader<'a>) -> R<()>) -> R<()> {
        // no name known by a bit: every name is kept and compared
        self.object_known(|name, r| f(name, r).map(|()| None))
    }

    /// An object whose members the caller knows by name: `f(name, reader)` is called for each
    /// member, must read its value, and returns `Some(bit)` (below 64) for a name it knows, each
    /// such name its own bit, or `None` for any other name. A known name seen twice is refused by
    /// its bit, any other by the names kept (as [`Reader::object`] keeps them all): member names
    /// are unique either way, and most need no keeping or comparing.
    pub fn object_known(
        &mut self,
        mut f: impl FnMut(&str, &mut Reader<'a>) -> R<Option<u32>>,
    ) -> R<()> {
        if !self.eat(b'{') {
            return Err(Invalid);
        }
        self.enter()?;
        if self.eat(b'}') {
            self.depth -= 1;
            return Ok(());
        }
        let mut known = 0u64;
        let mut seen = Seen::default();
        loop {
            if self.peek() != Some(b'"') {
                return Err(Invalid);
            }
            let name = self.string_here()?;
            if !self.eat(b':') {
                return Err(Invalid);
            }
            let fresh = match f(&name, self)? {
                Some(bit) => {
                    let b = 1u64.checked_shl(bit).ok_or(Invalid)?;
                    let fresh = known & b == 0;
                    known |= b;
                    fresh
                }
                None => match &name {
                    Cow::Borrowed(b) => seen.insert(b),
                    Cow::Owned(o) => seen.insert_owned(o),
                },
            };
            if !fresh {
                return Err(Invalid);
            }
            if self.eat(b',') {
                continue;
            }
            if self.eat(b'}') {
                break;
            }
            return Err(Invalid);
        }
        self.depth -= 1;
        Ok(())
    }

    /// An array: `f(reader)` is called for each element and must read it.
    pub fn array(&mut self, mut f: impl FnMut(&mut Reader<'a>) -> R<()>) -> R<()> {
        if !self.eat(b'[') {
            return Err(Invalid);
        }
        self.enter()?;
        if self.eat(b']') {
            self.depth -= 1;
            return Ok(());
        }
        loop {
            f(self)?;
            if self.eat(b',') {
                continue;
            }
            if self.eat(b']') {
                break;
            }
            return Err(Invalid);
        }
        self.depth -= 1;
        Ok(())
    }

    /// Any value, checked and dropped.
    pub fn skip(&mut self) -> R<()> {
        match self.peek() {
            Some(b'{') => self.object(|_, r| r.skip()),
            Some(b'[') => self.array(|r| r.skip()),
            Some(b'"') => self.string().map(drop),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number().map(drop),
            _ => Err(Invalid),
        }
    }

    fn literal(&mut self, word: &[u8]) -> R<()> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(Invalid)
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.b.get(self.i) {
            self.i += 1;
        }
        self.i - start
    }

    /// A number, as a finite `f64` (correctly rounded).
    #[inline]
    pub fn number(&mut self) -> R<f64> {
        self.ws();
        let start = self.i;
        let negative = self.b.get(self.i) == Some(&b'-');
        if negative {
            self.i += 1;
        }
        let int_start = self.i;
        // the integer part's value, taken while scanning it (exact while it has at most 15 digits;
        // wrapping, and unused, beyond)
        let mut v = 0u64;
        match self.b.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                // eight bytes at a time while eight are left (a time's ten digits: two words)
                while let Some(w) = word(self.b, self.i) {
                    let (n, value) = digit_run(w);
                    v = v.wrapping_mul(POW10[n]).wrapping_add(value);
                    self.i += n;
                    if n < 8 {
                        break;
                    }
                }
                while let Some(&d @ b'0'..=b'9') = self.b.get(self.i) {
                    v = v.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
                    self.i += 1;
                }
            }
            _ => return Err(Invalid),
        }
        // An integer of at most 15 digits is exactly an f64: no general parse (times are such).
        if !matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E')) && self.i - int_start <= 15 {
            let v = v as f64;
            return Ok(if negative { -v } else { v });
        }
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(Invalid);
            }
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(Invalid);
            }
        }
        let v: f64 = self.s[start..self.i].parse().map_err(|_| Invalid)?;
        if v.is_finite() {
            Ok(v)
        } else {
            Err(Invalid)
        }
    }

    fn hex4(&mut self) -> R<u32> {
        let h = self.b.get(self.i..self.i + 4).ok_or(Invalid)?;
        let mut v = 0u32;
        for &c in h {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return Err(Invalid),
            };
            v = v << 4 | u32::from(d);
        }
        self.i += 4;
        Ok(v)
    }

    /// A string, borrowed from the input when it has no escapes.
    ///
    /// Inlined, with the escape path out of line: the common case's result stays in registers.
    /// (Returned through memory, a `Cow` is written as words and read back by a 16-byte load the
    /// CPU cannot forward from those stores: a stall per string, a tenth of a token's parse.)
    #[inline]
    pub fn string(&mut self) -> R<Cow<'a, str>> {
        self.string_here()
    }

    /// [`Reader::string`], always inlined: for member names, read once per member in one place.
    #[inline(always)]
    fn string_here(&mut self) -> R<Cow<'a, str>> {
        if self.peek() != Some(b'"') {
            return Err(Invalid);
        }
        self.i += 1;
        let start = self.i;
        self.i = plain_run(self.b, self.i);
        if self.b.get(self.i) == Some(&b'"') {
            // `plain_run` stops only at ASCII bytes: both ends are character boundaries
            let s = self.s.get(start..self.i).ok_or(Invalid)?;
            self.i += 1;
            return Ok(Cow::Borrowed(s));
        }
        self.escaped(start).map(Cow::Owned)
    }

    /// The rest of a string whose content starts at `start`, when the plain run up to `self.i`
    /// did not end it: an escape (the value is built), or the end of the input or a control
    /// character (refused).
    #[inline(never)]
    fn escaped(&mut self, start: usize) -> R<String> {
        if self.b.get(self.i) != Some(&b'\\') {
            return Err(Invalid);
        }
        let mut out = String::with_capacity(self.i - start + 16);
        out.push_str(self.s.get(start..self.i).ok_or(Invalid)?);
        loop {
            match self.b.get(self.i) {
                None => return Err(Invalid),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    let e = *self.b.get(self.i + 1).ok_or(Invalid)?;
                    self.i += 2;
                    out.push(match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let c = match hi {
                                0xD800..=0xDBFF => {
                                    if self.b.get(self.i..self.i + 2) != Some(b"\\u") {
                                        return Err(Invalid);
                                    }
                                    self.i += 2;
                                    let lo = self.hex4()?;
                                    if !(0xDC00..=0xDFFF).contains(&lo) {
                                        return Err(Invalid);
                                    }
                                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                                }
                                0xDC00..=0xDFFF => return Err(Invalid),
                                _ => hi,
                            };
                            char::from_u32(c).ok_or(Invalid)?
                        }
                        _ => return Err(Invalid),
                    });
                }
                Some(&c) if c < 0x20 => return Err(Invalid),
                Some(_) => {
                    let run = self.i;
                    self.i = plain_run(self.b, self.i);
                    out.push_str(&self.s[run..self.i]);
                }
            }
        }
    }

    /// An array of strings.
    pub fn strings(&mut self) -> R<Vec<String>> {
        let mut out = Vec::new();
        self.array(|r| {
            out.push(r.string()?.into_owned());
            Ok(())
        })?;
        Ok(out)
    }
}

/// The member names of one object so far. Up to [`Seen::INLINE`] names without escapes are kept
/// in place (no allocation: a token's objects have a dozen members); each is compared by
/// (length, first byte, last byte) first, where most names differ, then in full.
struct Seen<'a> {
    keys: [u32; Seen::INLINE],
    names: [&'a str; Seen::INLINE],
    n: usize,
    more: Vec<(u32, Cow<'a, str>)>,
}

impl Default for Seen<'_> {
    fn default() -> Self {
        Seen {
            keys: [0; Seen::INLINE],
            names: [""; Seen::INLINE],
            n: 0,
            more: Vec::new(),
        }
    }
}

impl<'a> Seen<'a> {
    const INLINE: usize = 24;

    /// The key a name is compared by first: its length, first and last bytes.
    fn key(s: &str) -> u32 {
        let b = s.as_bytes();
        (b.len() as u32) << 16
            | u32::from(b.first().copied().unwrap_or(0)) << 8
            | u32::from(b.last().copied().unwrap_or(0))
    }

    /// Whether `s` (whose key is `key`) was recorded.
    fn contains(&self, key: u32, s: &str) -> bool {
        // the keys as one branch-free pass (vectorised); names compared only on a key match
        let candidates = self.keys[..self.n]
            .iter()
            .fold(false, |hit, &k| hit | (k == key));
        (candidates && (0..self.n).any(|i| self.keys[i] == key && self.names[i] == s))
            || self.more.iter().any(|(k, n)| *k == key && n == s)
    }

    /// Record `name`, borrowed from the input; `false` if it was there already.
    #[inline]
    fn insert(&mut self, name: &'a str) -> bool {
        let key = Seen::key(name);
        if self.contains(key, name) {
            return false;
        }
        if self.n < Seen::INLINE {
            self.keys[self.n] = key;
            self.names[self.n] = name;
            self.n += 1;
        } else {
            self.more.push((key, Cow::Borrowed(name)));
        }
        true
    }

    /// Record `name`, built from escapes; `false` if it was there already.
    fn insert_owned(&mut self, name: &str) -> bool {
        let key = Seen::key(name);
        if self.contains(key, name) {
            return false;
        }
        self.more.push((key, Cow::Owned(name.to_string())));
        true
    }
}

/// The first index from `i` on whose byte ends a run of plain string content: `"`, `\\` or a
/// control character (below 0x20), or `b.len()`. Sixteen bytes at a time where SSE2 is there
/// (every x86_64 CPU: one compare per stop class and a byte mask, [`stops16`]), then eight at a
/// time ([`plain_run_words`]) for what is left, and everywhere else.
#[inline]
fn plain_run(b: &[u8], i: usize) -> usize {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    let i = {
        let mut i = i;
        while let (Some(lo), Some(hi)) = (word(b, i), word(b, i + 8)) {
            let stop = stops16(lo, hi);
            if stop != 0 {
                return i + stop.trailing_zeros() as usize;
            }
            i += 16;
        }
        i
    };
    plain_run_words(b, i)
}

/// One bit per byte of the sixteen bytes `lo` then `hi` (each little-endian) that stops a plain
/// run: `"`, `\\`, or below 0x20.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn stops16(lo: u64, hi: u64) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        _mm_set_epi64x,
    };
    // SAFETY: these intrinsics need SSE2 only, which this code is compiled for (the `cfg`; every
    // x86_64 target has it); they compute on values in registers and touch no memory.
    unsafe {
        let v = _mm_set_epi64x(hi as i64, lo as i64);
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        // c < 0x20 (unsigned) exactly when max(c, 0x1F) == 0x1F
        let control = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1F)), _mm_set1_epi8(0x1F));
        _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), control)) as u32
    }
}

/// [`plain_run`] eight bytes at a time, with the classic "has a zero byte" / "has a byte less
/// than n" word tests: each flags every such byte and can add false flags only *above* a true
/// one (a borrow runs upwards), so the lowest flag is exactly the first stop. The last bytes are
/// read as a word padded with a stopping byte (0).
#[inline]
fn plain_run_words(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let stops = |w: u64| {
        has_zero(w ^ (ONES * u64::from(b'"')))
            | has_zero(w ^ (ONES * u64::from(b'\\')))
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGH)
    };
    let first = |stop: u64| (stop.trailing_zeros() / 8) as usize;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut a = [0u8; 8];
        a.copy_from_slice(chunk);
        let stop = stops(u64::from_le_bytes(a));
        if stop != 0 {
            return i + first(stop);
        }
        i += 8;
    }
    let rest = b.get(i..).unwrap_or_default();
    let mut a = [0u8; 8];
    a[..rest.len()].copy_from_slice(rest);
    // the padding stops at `rest.len()` at the latest
    (i + first(stops(u64::from_le_bytes(a)))).min(b.len())
}

/// The eight bytes from `i`, as a little-endian word, when there are eight.
#[inline(always)]
fn word(b: &[u8], i: usize) -> Option<u64> {
    let chunk: [u8; 8] = b.get(i..i + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(chunk))
}

/// `10^n` for `n` in `0..=8`.
const POW10: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// The decimal digits at the start of `w` (eight bytes, the first in the low byte): how many
/// there are (`0..=8`) and their value. Each byte's test stays in its byte (no carry crosses),
/// so the count is exact; the value is the classic multiply-and-shift conversion of eight
/// digits, the `n` digits moved to the top so the bytes below read as leading zeros.
#[inline(always)]
fn digit_run(w: u64) -> (usize, u64) {
    const LOW: u64 = 0x0F0F_0F0F_0F0F_0F0F;
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    // a digit's byte is 0..=9 here; any other byte has a high nibble or a low one above 9
    let x = w ^ 0x3030_3030_3030_3030;
    let not_digit = (x & HIGH) | (((x & LOW) + 0x0606_0606_0606_0606) & HIGH);
    let n = (not_digit.trailing_zeros() / 8) as usize;
    if n == 0 {
        return (0, 0);
    }
    let d = x << ((8 - n) * 8);
    let d = d.wrapping_mul(10).wrapping_add(d >> 8);
    let value = ((d & 0x0000_00FF_0000_00FF)
        .wrapping_mul(100 + (1_000_000 << 32))
        .wrapping_add(((d >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(1 + (10_000 << 32))))
        >> 32;
    (n, value)
}

/// `bytes` is one JSON object (whitespace around it allowed) that this reader accepts.
pub fn is_strict_object(bytes: &[u8]) -> bool {
    let Ok(mut r) = Reader::new(bytes) else {
        return false;
    };
    r.object(|_, r| r.skip()).is_ok() && r.end().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_string(s: &str) -> R<String> {
        let mut r = Reader::new(s.as_bytes())?;
        let v = r.string()?.into_owned();
        r.end()?;
        Ok(v)
    }

    fn read_number(s: &str) -> R<f64> {
        let mut r = Reader::new(s.as_bytes())?;
        let v = r.number()?;
        r.end()?;
        Ok(v)
    }

    #[test]
    fn strings() {
        assert_eq!(read_string(r#""abc""#), Ok("abc".into()));
        assert_eq!(read_string(r#""a\u0062\n\/\"""#), Ok("ab\n/\"".into()));
        assert_eq!(read_string(r#""\ud83d\ude00""#), Ok("\u{1f600}".into()));
        assert_eq!(read_string(r#""\u00E9t\u00e9""#), Ok("été".into()));
        for bad in [
            r#""\ud800""#,
            r#""\ud800x""#,
            r#""\ud800\u0041""#,
            r#""\udc00""#,
            r#""\x""#,
            r#""\u12""#,
            r#""\u12g4""#,
            "\"a\nb\"",
            "\"a\u{1}\"",
            r#""abc"#,
            r#"'a'"#,
        ] {
            assert_eq!(read_string(bad), Err(Invalid), "{bad}");
        }
        assert!(Reader::new(b"\"\xff\"").is_err(), "invalid UTF-8");
    }

    /// The vector and word-at-a-time scans stop exactly where the byte-by-byte rule does: every
    /// byte value at every position of two vectors (and the words after them), after plain ASCII
    /// or after bytes of multi-byte UTF-8.
    #[test]
    fn plain_runs_end_where_the_byte_rule_says() {
        let naive = |b: &[u8], i: usize| {
            b[i..]
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                .map_or(b.len(), |p| i + p)
        };
        for filler in [b'a', 0xC3, 0xA9, 0x7F, 0x21] {
            for len in 0..40 {
                for at in 0..len {
                    for v in 0..=255u8 {
                        let mut b = vec![filler; len];
                        b[at] = v;
                        for start in 0..=at.min(3) {
                            let want = naive(&b, start);
                            assert_eq!(plain_run(&b, start), want, "{b:?} {start}");
                            assert_eq!(plain_run_words(&b, start), want, "{b:?} {start}");
                        }
                    }
                }
            }
        }
    }

    /// The word-at-a-time digit run counts and values digits as a byte-by-byte reading does:
    /// every byte value at every position after digits, and every run length of digits.
    #[test]
    fn digit_runs_are_the_bytewise_reading() {
        let naive = |b: &[u8; 8]| {
            let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
            let v = b[..n]
                .iter()
                .fold(0u64, |v, &c| v * 10 + u64::from(c - b'0'));
            (n, v)
        };
        let digits = b"9081726354";
        for start in 0..3 {
            for at in 0..8 {
                for v in 0..=255u8 {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&digits[start..start + 8]);
                    b[at] = v;
                    assert_eq!(digit_run(u64::from_le_bytes(b)), naive(&b), "{b:?}");
                }
            }
        }
        assert_eq!(digit_run(u64::from_le_bytes(*b"99999999")), (8, 99_999_999));
        assert_eq!(digit_run(u64::from_le_bytes(*b"00000000")), (8, 0));
    }

    #[test]
    fn numbers() {
        for (s, v) in [
            ("0", 0.0),
            ("-7", -7.0),
            ("1.5e3", 1500.0),
            ("1E-2", 0.01),
            ("1e-400", 0.0),
            ("1796625778", 1_796_625_778.0),
            ("0.1", 0.1),
            ("999999999999999", 999_999_999_999_999.0),
            ("9007199254740993", 9_007_199_254_740_992.0),
            ("-0", -0.0),
        ] {
            assert_eq!(read_number(s), Ok(v), "{s}");
        }
        for bad in [
            "1e400", "-", "01", "+1", ".5", "1.", "1e", "1e+", "-01", "NaN", "0x10", "1.5e3.2",
        ] {
            assert_eq!(read_number(bad), Err(Invalid), "{bad}");
        }
    }

    #[test]
    fn objects_refuse_duplicates_at_every_depth_and_nest_to_the_limit() {
        assert!(is_strict_object(br#" {"a":1,"b":{"c":[{"d":1,"e":2}]}} "#));
        assert!(is_strict_object(br#"{}"#));
        assert!(!is_strict_object(br#"{"a":1,"a":1}"#));
        assert!(!is_strict_object(br#"{"a":{"x":1,"x":2}}"#));
        assert!(!is_strict_object(br#"{"a":[{"x":1,"x":2}]}"#));
        assert!(!is_strict_object(br#"{"iss":1,"i\u0073s":1}"#));
        assert!(!is_strict_object(br#"{"a":1,}"#));
        assert!(!is_strict_object(br#"{"a":[1,]}"#));
        assert!(!is_strict_object(br#"{"a" 1}"#));
        assert!(!is_strict_object(br#"{"a":1} x"#));
        assert!(!is_strict_object(br#"[{"a":1}]"#));
        assert!(!is_strict_object(br#"{"a":tru}"#));
        // past the names kept in place, and escaped names (kept apart)
        let many = |extra: &str| {
            let m: Vec<String> = (0..30).map(|i| format!("\"m{i}\":{i}")).collect();
            format!("{{{},{extra}}}", m.join(","))
        };
        assert!(is_strict_object(many("\"x\":1").as_bytes()));
        for dup in [
            r#""m3":1"#,
            r#""m27":1"#,
            r#""m\u0032":1"#,
            r#""\u006d29":1"#,
        ] {
            assert!(!is_strict_object(many(dup).as_bytes()), "{dup}");
        }
        assert!(!is_strict_object(br#"{"\u0061":1,"x":2,"a":3}"#));
        assert!(!is_strict_object(br#"{"a":1,"x":2,"\u0061":3}"#));
        let nest = |n: usize| format!("{{\"a\":{}1{}}}", "[".repeat(n - 1), "]".repeat(n - 1));
        assert!(is_strict_object(nest(MAX_DEPTH).as_bytes()));
        assert!(!is_strict_object(nest(MAX_DEPTH + 1).as_bytes()));
    }
}
