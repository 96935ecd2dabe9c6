//! Python's text forms of JSON values, as pcocc produces them: `json.dump` with its defaults
//! (`", "` and `": "` separators, `ensure_ascii=True`, floats by `float.__repr__`) for the files,
//! and `repr()` for the values jsonschema quotes in its messages.

use serde_json::{Map, Number, Value};

/// Appends `value` as Python's `json.dumps(value)` writes it.
/// `value` as Python's `json.dumps` writes it (`", "` and `": "` separators, non-ASCII text
/// escaped, keys in order).
pub fn json_dumps(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

pub(crate) fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

/// Appends `map` as `json.dumps` writes a dict: keys in insertion order.
pub(crate) fn write_object(out: &mut String, map: &Map<String, Value>) {
    out.push('{');
    for (i, (key, item)) in map.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_str(out, key);
        out.push_str(": ");
        write_value(out, item);
    }
    out.push('}');
}

/// Appends a number as Python writes it: integers in decimal, floats by `float.__repr__`.
fn write_number(out: &mut String, n: &Number) {
    if let Some(i) = n.as_u64() {
        out.push_str(&i.to_string());
    } else if let Some(i) = n.as_i64() {
        out.push_str(&i.to_string());
    } else if let Some(f) = n.as_f64() {
        write_json_float(out, f);
    }
}

/// Appends a float as `json.dumps` writes it: `float.__repr__`, except that the non-finite
/// values are `NaN`, `Infinity` and `-Infinity` (`allow_nan=True`).
pub(crate) fn write_json_float(out: &mut String, f: f64) {
    if f.is_nan() {
        out.push_str("NaN");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        out.push_str(&float_repr(f));
    }
}

/// Appends a string as `json.dumps` writes it with `ensure_ascii=True`
/// (`py_encode_basestring_ascii`): printable ASCII as is except `"` and `\`, the short escapes
/// `\" \\ \n \r \t \b \f`, and everything else as `\uXXXX` in lowercase hex, characters beyond
/// the BMP as a surrogate pair.
pub(crate) fn write_str(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let push_unit = |out: &mut String, unit: u16| {
        out.push_str("\\u");
        for shift in [12, 8, 4, 0] {
            out.push(char::from(HEX[usize::from((unit >> shift) & 0xf)]));
        }
    };
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    push_unit(out, *unit);
                }
            }
        }
    }
    out.push('"');
}

/// Python's `repr(f)` for a finite float: the shortest digits that read back to `f`, in fixed
/// notation when the decimal exponent is from -4 to 15 (`0.0001`, `1533305394.0`,
/// `1000000000000000.0`), else scientific with a signed two-digit-minimum exponent (`1e-05`,
/// `1e+16`, `1.5e+300`). Non-finite values give `inf`, `-inf`, `nan`.
pub(crate) fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let sign = if f.is_sign_negative() { "-" } else { "" };
    if f == 0.0 {
        return format!("{sign}0.0");
    }
    let (digits, exponent) = shortest_digits(f.abs());
    // The value is 0.DIGITS x 10^decpt.
    let decpt = exponent + 1;
    let ndigits = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    let body = if (-3..=16).contains(&decpt) {
        if decpt <= 0 {
            let zeros = "0".repeat(usize::try_from(-decpt).unwrap_or(0));
            format!("0.{zeros}{digits}")
        } else if decpt >= ndigits {
            let zeros = "0".repeat(usize::try_from(decpt - ndigits).unwrap_or(0));
            format!("{digits}{zeros}.0")
        } else {
            let (int, frac) = digits.split_at(usize::try_from(decpt).unwrap_or(0));
            format!("{int}.{frac}")
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let point = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{first}{point}e{exp_sign}{:02}", exponent.abs())
    };
    format!("{sign}{body}")
}

/// The shortest significant digits that read back to `f` (finite, positive) and the decimal
/// exponent of the first one, as Python's `dtoa` (mode 0) picks them.
fn shortest_digits(f: f64) -> (String, i32) {
    let (digits, exponent) = split_sci(&format!("{f:e}"));
    // Rust's `{:e}` gives the shortest round-trip digits closest to `f`, like Python, but
    // when `f` lies exactly halfway between two such candidates Python takes the even one and
    // Rust may not. Both candidates can round-trip only with 16 digits or more.
    if digits.len() < 16 {
        return (digits, exponent);
    }
    // The exact value: a double has at most 767 significant digits.
    let (exact, exact_exponent) = split_sci(&format!("{f:.1100e}"));
    let exact = exact.trim_end_matches('0');
    let n = digits.len();
    if exact_exponent != exponent || exact.len() != n + 1 || !exact.ends_with('5') {
        return (digits, exponent);
    }
    let lower = &exact[..n];
    let even = if lower
        .bytes()
        .last()
        .is_some_and(|d| (d - b'0').is_multiple_of(2))
    {
        (lower.to_owned(), exponent)
    } else {
        increment(lower, exponent)
    };
    let reads_back = format!("0.{}e{}", even.0, even.1 + 1)
        .parse::<f64>()
        .is_ok_and(|g| g == f);
    if reads_back { even } else { (digits, exponent) }
}

/// Splits Rust's `{:e}` form (`d.ddde-5`) into its digits and exponent.
fn split_sci(sci: &str) -> (String, i32) {
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci, "0"));
    let digits = mantissa.chars().filter(char::is_ascii_digit).collect();
    (digits, exponent.parse().unwrap_or(0))
}

/// `digits` (the significant digits of d.ddd x 10^exponent) plus one in the last place, as
/// digits of the same count and their exponent (`999` becomes `100` one exponent up).
fn increment(digits: &str, exponent: i32) -> (String, i32) {
    let mut bytes = digits.as_bytes().to_vec();
    for b in bytes.iter_mut().rev() {
        if *b == b'9' {
            *b = b'0';
        } else {
            *b += 1;
            return (String::from_utf8_lossy(&bytes).into_owned(), exponent);
        }
    }
    // All nines: 10^n, written with the same number of digits one exponent up.
    let mut carried = String::with_capacity(bytes.len());
    carried.push('1');
    carried.extend(std::iter::repeat_n('0', bytes.len().saturating_sub(1)));
    (carried, exponent + 1)
}

/// Python's `repr()` of the value that `json.loads` gives for `value`, as jsonschema quotes it:
/// `None`, `True`, `'text'`, `[1, 2]`, `{'a': 1.5}`.
pub(crate) fn repr_value(value: &Value) -> String {
    let mut out = String::new();
    push_repr(&mut out, value);
    out
}

fn push_repr(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => match n.as_f64() {
            Some(f) if !n.is_u64() && !n.is_i64() => out.push_str(&float_repr(f)),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => out.push_str(&repr_str(s)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                push_repr(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&repr_str(key));
                out.push_str(": ");
                push_repr(out, item);
            }
            out.push('}');
        }
    }
}

/// Python's `repr()` of a string: single quotes unless the text has a `'` and no `"`;
/// backslash, the quote, `\n`, `\r`, `\t` escaped; other characters Python does not print as
/// they are (controls, separators other than the space, format characters, private use) as
/// `\xNN`, `\uNNNN` or `\UNNNNNNNN`.
pub fn repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !py_printable(c) => {
                let code = u32::from(c);
                if code < 0x100 {
                    out.push_str(&format!("\\x{code:02x}"));
                } else if code < 0x1_0000 {
                    out.push_str(&format!("\\u{code:04x}"));
                } else {
                    out.push_str(&format!("\\U{code:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `str.isprintable` for one character, for the characters names hold in practice:
/// false for controls (Cc), separators other than the space (Zs, Zl, Zp), the usual format
/// characters (Cf) and surrogates or private use that a name might carry.
fn py_printable(c: char) -> bool {
    let code = u32::from(c);
    !(c.is_control()
        || code == 0xa0
        || code == 0xad
        || code == 0x1680
        || (0x2000..=0x200f).contains(&code)
        || (0x2028..=0x202f).contains(&code)
        || (0x205f..=0x2064).contains(&code)
        || code == 0x3000
        || code == 0xfeff
        || (0xe000..=0xf8ff).contains(&code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        // Expected values are Python 3's `repr()` of the same floats.
        let cases: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (0.000_123_45, "0.00012345"),
            (1e15, "1000000000000000.0"),
            (9_999_999_999_999_998.0, "9999999999999998.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1e22, "1e+22"),
            (123_456_789_012_345_678.0, "1.2345678901234568e+17"),
            (1_533_305_394.0, "1533305394.0"),
            (1_533_305_394.12, "1533305394.12"),
            (1_533_305_394.123_456_7, "1533305394.1234567"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (-2.5e-7, "-2.5e-07"),
            // Exactly halfway between two 17-digit candidates: Python takes the even one.
            (-(2_220_297_514_377_305.0 + 0.25), "-2220297514377305.2"),
            (1_125_899_906_842_624.0 + 0.75, "1125899906842624.8"),
        ];
        for &(f, want) in cases {
            assert_eq!(float_repr(f), want, "{f:e}");
        }
    }

    #[test]
    fn strings_are_ascii_escaped() {
        let mut out = String::new();
        write_str(&mut out, "a\"b\\c\n\u{1}\u{7f}é€😀/");
        assert_eq!(out, r#""a\"b\\c\n\u0001\u007f\u00e9\u20ac\ud83d\ude00/""#);
    }

    #[test]
    fn reprs() {
        assert_eq!(repr_str("it's"), "\"it's\"");
        assert_eq!(repr_str("a'\"b"), "'a\\'\"b'");
        assert_eq!(
            repr_value(&serde_json::json!({"a": [1, 1.5, null, true]})),
            "{'a': [1, 1.5, None, True]}"
        );
    }
}
