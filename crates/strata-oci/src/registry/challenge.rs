//! What a registry asks for in its `WWW-Authenticate` header (RFC 7235: `Basic`, or `Bearer`
//! with the token server's `realm` and `service`, as the distribution token spec has it), and
//! the token a token server answers with. Pure parsing, no I/O.

use std::time::Duration;

use serde::Deserialize;

/// How a registry wants to be authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    /// HTTP basic authentication with the user's credentials on every request.
    Basic,
    /// A bearer token from the token server at `realm`, for `service`.
    Bearer {
        /// The token server's URL.
        realm: String,
        /// The `service` parameter to send it, when the registry names one.
        service: Option<String>,
    },
}

/// The first challenge of a `WWW-Authenticate` value that strata speaks (`Basic`, or `Bearer`
/// with a realm); `None` when there is none.
pub(crate) fn parse_challenge(value: &str) -> Option<Challenge> {
    let mut rest = value.trim_start();
    while !rest.is_empty() {
        let (scheme, after) = split_token(rest);
        let (params, after) = parse_params(after);
        rest = after.trim_start_matches([',', ' ', '\t']);
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Challenge::Basic);
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            let get = |k: &str| {
                params
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(k))
                    .map(|(_, v)| v.clone())
            };
            if let Some(realm) = get("realm").filter(|r| !r.is_empty()) {
                return Some(Challenge::Bearer {
                    realm,
                    service: get("service").filter(|s| !s.is_empty()),
                });
            }
        }
        if scheme.is_empty() {
            break;
        }
    }
    None
}

/// A token: the characters up to a space, comma or `=`, and what follows.
fn split_token(s: &str) -> (&str, &str) {
    let s = s.trim_start_matches([' ', '\t']);
    let end = s.find([' ', '\t', ',', '=']).unwrap_or(s.len());
    (&s[..end], &s[end..])
}

/// The `name=value` parameters (values plain or quoted, with `\` escapes) that follow a scheme,
/// up to the next scheme; returns them and the rest.
fn parse_params(mut s: &str) -> (Vec<(String, String)>, &str) {
    let mut params = Vec::new();
    loop {
        let trimmed = s.trim_start_matches([' ', '\t', ',']);
        let (name, after) = split_token(trimmed);
        let after_ws = after.trim_start_matches([' ', '\t']);
        let Some(value_part) = after_ws.strip_prefix('=') else {
            // Not a parameter: the next scheme starts here (or the value ended).
            return (params, trimmed);
        };
        if name.is_empty() {
            return (params, trimmed);
        }
        let value_part = value_part.trim_start_matches([' ', '\t']);
        let (value, rest) = match value_part.strip_prefix('"') {
            Some(quoted) => {
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let mut end = quoted.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, escaped)) = chars.next() {
                                value.push(escaped);
                            }
                        }
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        c => value.push(c),
                    }
                }
                (value, &quoted[end.min(quoted.len())..])
            }
            None => {
                let end = value_part
                    .find([',', ' ', '\t'])
                    .unwrap_or(value_part.len());
                (value_part[..end].to_owned(), &value_part[end..])
            }
        };
        params.push((name.to_owned(), value));
        s = rest;
    }
}

/// A token server's answer (distribution's token spec, and OAuth2's `access_token`).
#[derive(Debug, Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// The lifetime a token has when its server does not say (the token spec's default).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// The token in a token server's JSON answer and how long it may be used (its lifetime less a
/// margin, so it is renewed before it expires), or why the answer is refused.
pub(crate) fn parse_token(body: &[u8]) -> Result<(String, Duration), String> {
    let answer: TokenResponse = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let token = answer
        .token
        .filter(|t| !t.is_empty())
        .or(answer.access_token.filter(|t| !t.is_empty()))
        .ok_or_else(|| "no token in the answer".to_owned())?;
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the token is not printable ASCII".to_owned());
    }
    let lifetime = answer
        .expires_in
        .filter(|s| *s > 0)
        .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs);
    // Renewed a tenth early (at least 5 s, but never sooner than half its life).
    let margin = (lifetime / 10)
        .max(Duration::from_secs(5))
        .min(lifetime / 2);
    Ok((token, lifetime - margin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_and_basic_challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="strata-test""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge(r#"bearer realm=http://t/x, service = "a\"b""#),
            Some(Challenge::Bearer {
                realm: "http://t/x".into(),
                service: Some("a\"b".into()),
            })
        );
        // The first challenge strata speaks wins.
        assert_eq!(
            parse_challenge(r#"Negotiate abc, Basic realm="r""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Bearer service=x"), None);
        assert_eq!(parse_challenge(""), None);
        assert_eq!(parse_challenge("Digest realm=\"x\", nonce=\"y\""), None);
    }

    #[test]
    fn token_answers() {
        let (t, life) = parse_token(br#"{"token":"abc","expires_in":300}"#).unwrap();
        assert_eq!((t.as_str(), life), ("abc", Duration::from_secs(270)));
        let (t, life) = parse_token(br#"{"access_token":"xyz"}"#).unwrap();
        assert_eq!((t.as_str(), life), ("xyz", Duration::from_secs(54)));
        let (_, life) = parse_token(br#"{"token":"a","expires_in":4}"#).unwrap();
        assert_eq!(life, Duration::from_secs(2));
        assert!(parse_token(br#"{"token":""}"#).is_err());
        assert!(parse_token(br#"{"token":"a\nb"}"#).is_err());
        assert!(parse_token(b"not json").is_err());
    }
}
