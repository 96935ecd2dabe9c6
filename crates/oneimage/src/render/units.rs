//! The CLI's small formatters (OpenNebula/one `src/cli/one_helper.rb`: `unit_to_str`,
//! `time_to_str`, `boolean_to_str`, `level_lock_to_str`).

use jiff::Timestamp;
use jiff::tz::TimeZone;

const BINARY_SUFFIX: [&str; 4] = ["K", "M", "G", "T"];

/// `unit_to_str(value, {}, 'M')`: a size in MiB divided by 1024 while above 1024 (up to T),
/// rounded to one decimal (half away from zero), `.0` dropped: `40M`, `1024M`, `2.2G`.
pub fn unit_to_str_mb(value_mb: i64) -> String {
    let mut i = 1;
    if value_mb <= 1024 {
        return format!("{value_mb}{}", BINARY_SUFFIX[i]);
    }
    #[expect(
        clippy::cast_precision_loss,
        reason = "Ruby's Float division, which this reproduces"
    )]
    let mut value = value_mb as f64;
    while value > 1024.0 && i < 3 {
        value /= 1024.0;
        i += 1;
    }
    let value = (value * 10.0).round() / 10.0;
    if value == value.round() {
        // Ruby's `to_i` then `to_s`.
        format!("{value:.0}{}", BINARY_SUFFIX[i])
    } else {
        // Ruby's Float#to_s: the shortest form that reads back, as Rust's Display writes it.
        format!("{value}{}", BINARY_SUFFIX[i])
    }
}

/// `time_to_str(time)`: `-` for 0, else `%m/%d %H:%M:%S` in `tz` (Ruby's `Time.at` is local
/// time).
pub fn time_to_str(time: i64, tz: &TimeZone) -> String {
    if time == 0 {
        return "-".into();
    }
    match Timestamp::from_second(time) {
        Ok(ts) => ts
            .to_zoned(tz.clone())
            .strftime("%m/%d %H:%M:%S")
            .to_string(),
        // Out of jiff's range (years beyond ±9999): Ruby would still print a date; strata never
        // stores such times.
        Err(_) => time.to_string(),
    }
}

/// `boolean_to_str`: `Yes` or `No`.
pub fn boolean_to_str(on: bool) -> &'static str {
    if on { "Yes" } else { "No" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(unit_to_str_mb(0), "0M");
        assert_eq!(unit_to_str_mb(40), "40M");
        assert_eq!(unit_to_str_mb(1024), "1024M");
        assert_eq!(unit_to_str_mb(1025), "1G");
        assert_eq!(unit_to_str_mb(2253), "2.2G");
        assert_eq!(unit_to_str_mb(2304), "2.3G"); // 2.25: half away from zero
        assert_eq!(unit_to_str_mb(10 * 1024 * 1024), "10T");
        assert_eq!(unit_to_str_mb(1024 * 1024), "1024G");
        assert_eq!(unit_to_str_mb(5 * 1024 * 1024 * 1024), "5120T");
    }

    #[test]
    fn times() {
        assert_eq!(time_to_str(0, &TimeZone::UTC), "-");
        assert_eq!(time_to_str(1_700_000_000, &TimeZone::UTC), "11/14 22:13:20");
    }
}
