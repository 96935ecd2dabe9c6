//! The body of the `xmlrpc_request` fuzz target (`fuzz/fuzz_targets/xmlrpc_request.rs`), which
//! strata-testkit's replay also runs on every saved input: never panics, and a call that
//! decodes encodes back to the same call.

use super::codec;

/// Bytes -> a request: decoded within the bounds; a decoded call, encoded and decoded again,
/// is the same call. Panics only on a bug.
pub fn request(data: &[u8]) {
    let Ok(call) = codec::decode_call(data) else {
        return;
    };
    let text = codec::encode_call(&call.method, &call.params);
    match codec::decode_call(text.as_bytes()) {
        Ok(again) => assert_eq!(again, call, "a decoded call round-trips"),
        // Re-encoding may grow the text or its node count past a limit, never make it invalid.
        Err(codec::DecodeError::TooLarge { .. } | codec::DecodeError::TooManyNodes) => {}
        Err(e) => panic!("a decoded call re-encodes to a refused one: {e}"),
    }
    let _ = codec::encode_response(&codec::Value::Array(call.params));
}
