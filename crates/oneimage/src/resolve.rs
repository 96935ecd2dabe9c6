//! Arguments read as OpenNebula reads them: ranges (`1,8..15`), lists of names and ids, filter
//! flags, users and groups, permissions, sizes (OpenNebula/one `src/cli/command_parser.rb`,
//! `one_helper.rb`: `to_id`, `list_to_id`, `name_to_id`, `filterflag_to_i`, `to_octet`;
//! `oneimage_helper.rb`: `--size`).

use strata::pool::PoolFilter;
use strata_model::one::Permissions;
use strata_store::Accounts;

use crate::error::Error;

/// The most ids a range may name: `0..4294967295` would otherwise be four billion requests.
pub const MAX_RANGE: usize = 100_000;

/// An object a name resolves among: its id and name.
pub trait Named {
    /// The id.
    fn id(&self) -> u32;
    /// The name.
    fn name(&self) -> &str;
}

impl Named for strata_model::one::ImageRecord {
    fn id(&self) -> u32 {
        self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for strata::pool::DatastoreInfo {
    fn id(&self) -> u32 {
        self.record.id
    }
    fn name(&self) -> &str {
        &self.record.name
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn number(s: &str) -> Result<u32, Error> {
    s.parse().map_err(|_| Error::Argument {
        message: format!("Argument '{s}' is not a valid ID"),
    })
}

/// Whether `arg` is a range (`^(?:(?:\d+\.\.\d+|\d+),)*(?:\d+\.\.\d+|\d+)$`).
fn is_range(arg: &str) -> bool {
    !arg.is_empty()
        && arg.split(',').all(|part| match part.split_once("..") {
            Some((a, b)) => all_digits(a) && all_digits(b),
            None => all_digits(part),
        })
}

/// The ids a range names, in order, each once (`1,8..10` is 1, 8, 9, 10).
pub fn expand_range(arg: &str) -> Result<Vec<u32>, Error> {
    let mut ids = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for part in arg.split(',') {
        let (a, b) = match part.split_once("..") {
            Some((a, b)) => (number(a)?, number(b)?),
            None => {
                let n = number(part)?;
                (n, n)
            }
        };
        let count = usize::try_from(u64::from(b.saturating_sub(a)) + 1).unwrap_or(usize::MAX);
        if a <= b && ids.len().saturating_add(count) > MAX_RANGE {
            return Err(Error::Argument {
                message: format!("Range {arg} names more than {MAX_RANGE} objects"),
            });
        }
        for id in a..=b {
            if seen.insert(id) {
                ids.push(id);
            }
        }
    }
    Ok(ids)
}

/// One name or id (`to_id`): digits are an id; a name must match exactly one object.
pub fn to_id<T: Named>(arg: &str, kind: &str, pool: &[T]) -> Result<u32, Error> {
    if all_digits(arg) {
        return number(arg);
    }
    let mut found = pool.iter().filter(|o| o.name() == arg);
    match (found.next(), found.next()) {
        (Some(one), None) => Ok(one.id()),
        (None, _) => Err(Error::NotFound {
            message: format!("{kind} named {arg} not found."),
        }),
        (Some(_), Some(_)) => Err(Error::Argument {
            message: format!("There are multiple {kind}s with name {arg}."),
        }),
    }
}

/// A range, or a list of names and ids separated by commas (`list_to_id`).
pub fn ids<T: Named>(arg: &str, kind: &str, pool: &[T]) -> Result<Vec<u32>, Error> {
    if is_range(arg) {
        return expand_range(arg);
    }
    arg.split(',').map(|name| to_id(name, kind, pool)).collect()
}

/// A filter flag (`filterflag_to_i`).
pub fn filter_flag(arg: Option<&str>, accounts: &Accounts) -> Result<PoolFilter, Error> {
    Ok(match arg {
        None => PoolFilter::All,
        Some("a" | "all") => PoolFilter::All,
        Some("m" | "mine") => PoolFilter::Mine,
        Some("g" | "group") => PoolFilter::MineAndGroups,
        Some("G" | "primary group") => PoolFilter::PrimaryGroup,
        Some(n) if all_digits(n) => PoolFilter::User(number(n)?),
        Some(name) => PoolFilter::User(user_id(name, accounts)?),
    })
}

/// A user given by name or id.
pub fn user_id(arg: &str, accounts: &Accounts) -> Result<u32, Error> {
    if all_digits(arg) {
        return number(arg);
    }
    accounts
        .user_named(arg)
        .map(|u| u.uid)
        .ok_or_else(|| Error::NotFound {
            message: format!("USER named {arg} not found."),
        })
}

/// A group given by name or id.
pub fn group_id(arg: &str, accounts: &Accounts) -> Result<u32, Error> {
    if all_digits(arg) {
        return number(arg);
    }
    accounts
        .group_named(arg)
        .map(|g| g.gid)
        .ok_or_else(|| Error::NotFound {
            message: format!("GROUP named {arg} not found."),
        })
}

/// Permissions as `chmod` takes them (`to_octet`): three octal digits, or `u=rw,g=r,o=`.
pub fn octet(arg: &str) -> Result<Permissions, Error> {
    let parsed = if all_digits(arg) {
        Permissions::parse_octet(arg)
    } else {
        Permissions::parse_symbolic(arg)
    };
    parsed.map_err(|e| Error::Argument {
        message: e.to_string(),
    })
}

/// `--size` (`^(\d+(?:\.\d+)?)(m|mb|g|gb)?$`, case-insensitive): MB, `g`/`gb` times 1024,
/// floored.
pub fn size_mb(arg: &str) -> Result<u64, Error> {
    let bad = || Error::Argument {
        message: "Size must be a number (MB) or a number followed by MB or GB".to_owned(),
    };
    let lower = arg.to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits_end);
    let factor = match unit {
        "" | "m" | "mb" => 1.0,
        "g" | "gb" => 1024.0,
        _ => return Err(bad()),
    };
    let valid = match number.split_once('.') {
        Some((a, b)) => all_digits(a) && all_digits(b),
        None => all_digits(number),
    };
    if !valid {
        return Err(bad());
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let mb = (value * factor).floor();
    if !(0.0..=(u64::MAX as f64)).contains(&mb) {
        return Err(bad());
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "checked to be a non-negative whole number in range just above"
    )]
    Ok(mb as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct O(u32, &'static str);
    impl Named for O {
        fn id(&self) -> u32 {
            self.0
        }
        fn name(&self) -> &str {
            self.1
        }
    }

    #[test]
    fn ranges_expand_in_order_once() {
        assert_eq!(expand_range("1,8..10,9").unwrap(), [1, 8, 9, 10]);
        assert!(
            is_range("3")
                && is_range("1..2,4")
                && !is_range("a,1")
                && !is_range("1..")
                && !is_range("")
        );
        assert!(expand_range("0..4294967295").is_err());
    }

    #[test]
    fn names_resolve_to_exactly_one_object() {
        let pool = [O(0, "a"), O(1, "b"), O(2, "b")];
        assert_eq!(ids("a,7", "IMAGE", &pool).unwrap(), [0, 7]);
        assert_eq!(
            to_id("c", "IMAGE", &pool).unwrap_err().to_string(),
            "IMAGE named c not found."
        );
        assert_eq!(
            to_id("b", "IMAGE", &pool).unwrap_err().to_string(),
            "There are multiple IMAGEs with name b."
        );
    }

    #[test]
    fn sizes_are_mb_floored() {
        assert_eq!(size_mb("10").unwrap(), 10);
        assert_eq!(size_mb("10MB").unwrap(), 10);
        assert_eq!(size_mb("1.5g").unwrap(), 1536);
        assert_eq!(size_mb("2.7").unwrap(), 2);
        assert!(size_mb("1t").is_err() && size_mb("-1").is_err() && size_mb("1.").is_err());
    }

    #[test]
    fn permissions_take_both_forms() {
        assert_eq!(octet("640").unwrap().to_string(), "640");
        assert_eq!(octet("u=rw,g=r,o=").unwrap().to_string(), "640");
    }
}
