//! `JSON.pretty_generate` as the Ruby CLI prints `-j`.
//!
//! serde_json's `PrettyFormatter` writes an empty object as `{}` and an empty array as `[]`;
//! the json gem of the Rubies OpenNebula's CLI runs on (json 2.6 and earlier: Ruby 3.0 to 3.2)
//! writes them as `{` newline, indentation, `}` and `[`, two newlines, indentation, `]`. The
//! layout is therefore written here; strings are escaped by serde_json, whose escapes are the
//! json gem's (`\"`, `\\`, `\b \f \n \r \t`, other control characters as lowercase `\u00xx`,
//! everything else, `/` and non-ASCII included, as is).

use serde_json::Value;

/// `JSON.pretty_generate(value)` followed by `puts`'s newline.
pub fn ruby_pretty_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, 0, &mut out);
    out.push('\n');
    out
}

fn indent(depth: usize, out: &mut String) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn write_string(s: &str, out: &mut String) {
    // Serialising a string cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

fn write_value(value: &Value, depth: usize, out: &mut String) {
    match value {
        Value::Object(map) => {
            out.push('{');
            for (i, (key, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('\n');
                indent(depth + 1, out);
                write_string(key, out);
                out.push_str(": ");
                write_value(v, depth + 1, out);
            }
            out.push('\n');
            indent(depth, out);
            out.push('}');
        }
        Value::Array(items) => {
            out.push_str("[\n");
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                indent(depth + 1, out);
                write_value(v, depth + 1, out);
            }
            out.push('\n');
            indent(depth, out);
            out.push(']');
        }
        Value::String(s) => write_string(s, out),
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_json_2_6() {
        let v: Value =
            serde_json::from_str(r#"{"a":{},"b":[],"c":"x\u0001é/\"\\","d":["1",{"e":"2"}]}"#)
                .unwrap();
        assert_eq!(
            ruby_pretty_json(&v),
            "{\n  \"a\": {\n  },\n  \"b\": [\n\n  ],\n  \"c\": \"x\\u0001é/\\\"\\\\\",\n  \
             \"d\": [\n    \"1\",\n    {\n      \"e\": \"2\"\n    }\n  ]\n}\n"
        );
    }
}
