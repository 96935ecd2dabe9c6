//! The codec: round trips of every type, xmlrpc-c's bytes, what Python's xmlrpc.client sends,
//! and the refusals of hostile requests.

#![allow(clippy::unwrap_used, reason = "tests")]

use super::*;

fn every_type() -> Vec<Value> {
    vec![
        Value::Int(-7),
        Value::Int(i32::MAX),
        Value::I8(i64::MIN),
        Value::Bool(true),
        Value::Bool(false),
        Value::Double(-1.25),
        Value::Double(1e-300),
        Value::string("a <b> & \"c\" 'd'\r\n\ttab é ✓"),
        Value::string(""),
        Value::Base64(vec![0, 1, 2, 255]),
        Value::Array(vec![]),
        Value::Array(vec![Value::Int(1), Value::string("x")]),
        Value::Struct(vec![
            ("NAME".to_owned(), Value::string("n")),
            (
                "a&b".to_owned(),
                Value::Struct(vec![("in".to_owned(), Value::Array(vec![]))]),
            ),
        ]),
    ]
}

#[test]
fn calls_round_trip_with_every_type() {
    let params = every_type();
    let text = encode_call("one.image.info", &params);
    let call = decode_call(text.as_bytes()).unwrap();
    assert_eq!(call.method, "one.image.info");
    assert_eq!(call.params, params);
}

#[test]
fn responses_round_trip_with_every_type() {
    for value in every_type() {
        let text = encode_response(&value);
        assert_eq!(
            decode_response(text.as_bytes()).unwrap(),
            Response::Value(value)
        );
    }
    let text = encode_fault(-506, "Method 'x' not defined");
    assert_eq!(
        decode_response(text.as_bytes()).unwrap(),
        Response::Fault {
            code: -506,
            message: "Method 'x' not defined".to_owned()
        }
    );
}

#[test]
fn responses_are_written_as_xmlrpc_c_writes_them() {
    let value = Value::Array(vec![
        Value::Bool(false),
        Value::string("[one.image.info] Error getting image [99]."),
        Value::Int(0x400),
        Value::Int(99),
        Value::I8(-1),
    ]);
    assert_eq!(
        encode_response(&value),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<methodResponse>\r\n<params>\r\n\
         <param><value><array><data>\r\n<value><boolean>0</boolean></value>\r\n\
         <value><string>[one.image.info] Error getting image [99].</string></value>\r\n\
         <value><i4>1024</i4></value>\r\n<value><i4>99</i4></value>\r\n\
         <value><i8>-1</i8></value>\r\n</data></array></value></param>\r\n</params>\r\n\
         </methodResponse>\r\n"
    );
    assert_eq!(
        encode_fault(-506, "Method 'one.x' not defined"),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<methodResponse>\r\n<fault>\r\n\
         <value><struct>\r\n<member><name>faultCode</name>\r\n<value><i4>-506</i4></value>\
         </member>\r\n<member><name>faultString</name>\r\n<value><string>Method 'one.x' not \
         defined</string></value></member>\r\n</struct></value>\r\n</fault>\r\n\
         </methodResponse>\r\n"
    );
    assert_eq!(
        encode_response(&Value::string("<a>&\r")),
        encode_response(&Value::string("<a>&\r"))
    );
    assert!(encode_response(&Value::string("<a>&\r")).contains("&lt;a&gt;&amp;&#x0d;"));
    assert!(encode_response(&Value::string("\u{1}")).contains("<string>\u{FFFD}</string>"));
}

#[test]
fn python_calls_decode() {
    // What Python's xmlrpc.client sends (pyone's transport).
    let text = "<?xml version='1.0'?>\n<methodCall>\n<methodName>one.image.chmod</methodName>\n\
                <params>\n<param>\n<value><string>u:p</string></value>\n</param>\n<param>\n\
                <value><int>3</int></value>\n</param>\n<param>\n<value><boolean>1</boolean>\
                </value>\n</param>\n<param>\n<value><struct>\n<member>\n<name>K</name>\n\
                <value><double>1.5</double></value>\n</member>\n</struct></value>\n</param>\n\
                <param>\n<value><array><data>\n<value><i4>1</i4></value>\n</data></array>\
                </value>\n</param>\n<param>\n<value>bare text</value>\n</param>\n</params>\n\
                </methodCall>\n";
    let call = decode_call(text.as_bytes()).unwrap();
    assert_eq!(call.method, "one.image.chmod");
    assert_eq!(
        call.params,
        vec![
            Value::string("u:p"),
            Value::Int(3),
            Value::Bool(true),
            Value::Struct(vec![("K".to_owned(), Value::Double(1.5))]),
            Value::Array(vec![Value::Int(1)]),
            Value::string("bare text"),
        ]
    );
    let no_params =
        decode_call(b"<methodCall><methodName>one.system.version</methodName></methodCall>")
            .unwrap();
    assert!(no_params.params.is_empty());
    let cdata = decode_call(
        b"<methodCall><methodName>m</methodName><params><param><value><string>a<![CDATA[<b>]]>&amp;</string></value></param></params></methodCall>",
    )
    .unwrap();
    assert_eq!(cdata.params, vec![Value::string("a<b>&")]);
}

fn refused(text: &[u8]) -> DecodeError {
    decode_call(text).unwrap_err()
}

#[test]
fn hostile_requests_are_refused_with_a_fault() {
    let dtd = refused(
        b"<?xml version=\"1.0\"?><!DOCTYPE m [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;\">]>\
          <methodCall><methodName>m</methodName><params><param><value>&b;</value></param>\
          </params></methodCall>",
    );
    assert_eq!(dtd.fault_code(), fault::PARSE);
    assert!(
        dtd.fault_string()
            .starts_with("Call XML not a proper XML-RPC call.  "),
        "{}",
        dtd.fault_string()
    );

    let big = vec![b' '; MAX_REQUEST_BYTES + 1];
    assert_eq!(
        refused(&big),
        DecodeError::TooLarge {
            size: MAX_REQUEST_BYTES + 1
        }
    );
    assert_eq!(refused(&big).fault_code(), fault::LIMIT_EXCEEDED);

    let deep = format!(
        "<methodCall><methodName>m</methodName><params><param>{}{}</param></params></methodCall>",
        "<value><array><data>".repeat(MAX_DEPTH + 1),
        "</data></array></value>".repeat(MAX_DEPTH + 1)
    );
    assert_eq!(refused(deep.as_bytes()), DecodeError::TooDeep);
    let ok_depth = format!(
        "<methodCall><methodName>m</methodName><params><param>{}{}</param></params></methodCall>",
        "<value><array><data>".repeat(MAX_DEPTH - 1),
        "</data></array></value>".repeat(MAX_DEPTH - 1)
    );
    assert!(decode_call(ok_depth.as_bytes()).is_ok());

    let many = format!(
        "<methodCall><methodName>m</methodName><params>{}</params></methodCall>",
        "<param><value><i4>1</i4></value></param>".repeat(MAX_PARAMS + 1)
    );
    assert_eq!(refused(many.as_bytes()), DecodeError::TooManyParams);

    let nodes = format!(
        "<methodCall><methodName>m</methodName><params><param><value><array><data>{}</data>\
         </array></value></param></params></methodCall>",
        "<value/>".repeat(MAX_NODES as usize)
    );
    assert_eq!(refused(nodes.as_bytes()), DecodeError::TooManyNodes);

    assert_eq!(refused(b"\xff\xfe"), DecodeError::NotUtf8);
    for bad in [
        &b"<methodCall>"[..],
        b"<other/>",
        b"<methodCall><params/></methodCall>",
        b"<methodCall><methodName>a b</methodName></methodCall>",
        b"<methodCall><methodName>m</methodName><methodName>n</methodName></methodCall>",
        b"<methodCall><methodName>m</methodName><params><param><value><i4>x</i4></value></param></params></methodCall>",
        b"<methodCall><methodName>m</methodName><params><param><value><i4>2147483648</i4></value></param></params></methodCall>",
        b"<methodCall><methodName>m</methodName><params><param><value><boolean>true</boolean></value></param></params></methodCall>",
        b"<methodCall><methodName>m</methodName><params><param><value><double>inf</double></value></param></params></methodCall>",
        b"<methodCall><methodName>m</methodName><params><param><value><base64>!!</base64></value></param></params></methodCall>",
        b"<methodCall><methodName>m</methodName><params><param><value><nil/></value></param></params></methodCall>",
        b"<methodCall><methodName>m</methodName><params><param><value><struct><member><name>a</name></member></struct></value></param></params></methodCall>",
        b"<methodCall><methodName>m</methodName><params><param><value><array><value/></array></value></param></params></methodCall>",
        b"<methodCall><methodName>m</methodName><params><param><value><string><b/></string></value></param></params></methodCall>",
        b"<methodCall><methodName>m</methodName><params><param><value><i4>1</i4><i4>2</i4></value></param></params></methodCall>",
        b"<methodCall>text<methodName>m</methodName></methodCall>",
        // Characters XML 1.0 does not allow, even as references.
        b"<methodCall><methodName>m</methodName><params><param><value>&#1;</value></param></params></methodCall>",
        b"<methodCall><methodName>m</methodName><params><param><value>&#xFFFE;</value></param></params></methodCall>",
    ] {
        let e = refused(bad);
        assert_eq!(
            e.fault_code(),
            fault::PARSE,
            "{}: {e}",
            String::from_utf8_lossy(bad)
        );
    }
}

/// The fuzz target's property on deterministic mutations of a call: truncations and byte
/// changes at every position never panic, and what still decodes re-encodes to the same call.
#[test]
fn mutated_calls_decode_or_refuse_and_round_trip() {
    let seed = encode_call("one.image.allocate", &every_type());
    let bytes = seed.as_bytes();
    let check = |data: &[u8]| {
        if let Ok(call) = decode_call(data) {
            let again = decode_call(encode_call(&call.method, &call.params).as_bytes());
            match again {
                Ok(again) => assert_eq!(again, call),
                Err(DecodeError::TooLarge { .. } | DecodeError::TooManyNodes) => {}
                Err(e) => panic!("{e}: {}", String::from_utf8_lossy(data)),
            }
        }
    };
    for i in 0..bytes.len() {
        check(&bytes[..i]);
        for b in [b'<', b'>', b'&', b'/', b'x', b'0', b' ', 0xff] {
            let mut data = bytes.to_vec();
            data[i] = b;
            check(&data);
        }
    }
}
