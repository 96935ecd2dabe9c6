//! XML-RPC on the wire: [`decode_call`] reads a `methodCall`, [`encode_response`] and
//! [`encode_fault`] write a `methodResponse` as oned's XML-RPC library (xmlrpc-c) writes it, so
//! that a client reading bytes sees what it sees from oned: the `<?xml ... encoding="UTF-8"?>`
//! prologue, CRLF line ends where xmlrpc-c puts them, `<i4>` for ints and `<i8>` for 64-bit
//! ones, `<boolean>0|1</boolean>`, and strings escaped as xmlrpc-c escapes them (`&lt;`, `&gt;`,
//! `&amp;`, `&#x0d;`). [`encode_call`] and [`decode_response`] are the client side, for tests.
//!
//! Every request is hostile until decoded: it is at most [`MAX_REQUEST_BYTES`], UTF-8, without a
//! DOCTYPE (so no entity is ever defined, let alone expanded), at most [`MAX_NODES`] XML nodes,
//! [`MAX_DEPTH`] values deep (xmlrpc-c's default nesting limit) and [`MAX_PARAMS`] parameters
//! long. A refusal is a [`DecodeError`], which the server answers as xmlrpc-c answers a bad call:
//! a fault ([`DecodeError::fault_code`], [`DecodeError::fault_string`]).

use std::fmt::Write as _;

/// The largest request read, in bytes. oned hands xmlrpc-c its `MESSAGE_SIZE` (1 GiB by
/// default) as the XML size limit; strata's requests carry at most a template, so 1 MiB is far
/// more than any real call and a bound on what one request may cost.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// How deep values may nest (arrays and structs in arrays and structs): xmlrpc-c's default
/// `XMLRPC_NESTING_LIMIT`.
pub const MAX_DEPTH: usize = 64;

/// The most parameters a call may have (oned's longest call, `chmod`, has eleven).
pub const MAX_PARAMS: usize = 64;

/// The most XML nodes (elements, text, comments) a request may have.
pub const MAX_NODES: u32 = 100_000;

/// xmlrpc-c's fault codes (`xmlrpc-c/base.h`, `XMLRPC_*_ERROR`).
pub mod fault {
    /// `XMLRPC_INTERNAL_ERROR`.
    pub const INTERNAL: i32 = -500;
    /// `XMLRPC_TYPE_ERROR`: a parameter of the wrong type, or missing.
    pub const TYPE: i32 = -501;
    /// `XMLRPC_PARSE_ERROR`: the call is not XML-RPC.
    pub const PARSE: i32 = -503;
    /// `XMLRPC_NO_SUCH_METHOD_ERROR`.
    pub const NO_SUCH_METHOD: i32 = -506;
    /// `XMLRPC_LIMIT_EXCEEDED_ERROR`: size or nesting over the limits.
    pub const LIMIT_EXCEEDED: i32 = -509;
}

/// An XML-RPC value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `<int>` or `<i4>`.
    Int(i32),
    /// `<i8>` (an extension oned uses, e.g. for the replication index of a failure).
    I8(i64),
    /// `<boolean>`.
    Bool(bool),
    /// `<double>`.
    Double(f64),
    /// `<string>`, or a `<value>` with text only.
    String(String),
    /// `<base64>`.
    Base64(Vec<u8>),
    /// `<array>`.
    Array(Vec<Value>),
    /// `<struct>`, its members in order.
    Struct(Vec<(String, Value)>),
}

impl Value {
    /// A string value.
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// The member `name` of a struct.
    pub fn member(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Struct(members) => members.iter().find(|(n, _)| n == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The int of an `Int`, or of an `I8` that fits.
    pub fn as_i32(&self) -> Option<i32> {
        match self {
            Value::Int(i) => Some(*i),
            Value::I8(i) => i32::try_from(*i).ok(),
            _ => None,
        }
    }

    /// The text of a `String`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value of a `Bool`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

/// A decoded `methodCall`.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodCall {
    /// `methodName`.
    pub method: String,
    /// The parameters, in order.
    pub params: Vec<Value>,
}

/// A decoded `methodResponse`.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// The one value of `<params>`.
    Value(Value),
    /// A `<fault>`.
    Fault {
        /// `faultCode`.
        code: i32,
        /// `faultString`.
        message: String,
    },
}

impl Response {
    /// The response as one value: a fault becomes its `{faultCode, faultString}` struct, the
    /// value that `<fault>` carries.
    pub fn into_value(self) -> Value {
        match self {
            Response::Value(v) => v,
            Response::Fault { code, message } => fault_struct(code, &message),
        }
    }

    /// The fault a value stands for, if it is a `{faultCode, faultString}` struct (see
    /// [`Response::into_value`]).
    pub fn from_value(value: Value) -> Response {
        if let (Some(code), Some(message)) = (
            value.member("faultCode").and_then(Value::as_i32),
            value.member("faultString").and_then(Value::as_str),
        ) {
            return Response::Fault {
                code,
                message: message.to_owned(),
            };
        }
        Response::Value(value)
    }
}

fn fault_struct(code: i32, message: &str) -> Value {
    Value::Struct(vec![
        ("faultCode".to_owned(), Value::Int(code)),
        ("faultString".to_owned(), Value::string(message)),
    ])
}

/// Why a request cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Over [`MAX_REQUEST_BYTES`].
    #[error("XML-RPC request too large ({size} bytes, at most {MAX_REQUEST_BYTES})")]
    TooLarge {
        /// The size given or read so far.
        size: usize,
    },
    /// More than [`MAX_NODES`] XML nodes.
    #[error("Too many XML nodes (more than {MAX_NODES})")]
    TooManyNodes,
    /// Values nested deeper than [`MAX_DEPTH`].
    #[error("Nested data structure too deep (more than {MAX_DEPTH} levels)")]
    TooDeep,
    /// More than [`MAX_PARAMS`] parameters.
    #[error("Too many parameters (more than {MAX_PARAMS})")]
    TooManyParams,
    /// Not UTF-8.
    #[error("The XML is not UTF-8")]
    NotUtf8,
    /// Not well-formed XML, or a DOCTYPE (the XML parser's words).
    #[error("{0}")]
    Xml(String),
    /// Well-formed XML that is not an XML-RPC call or response.
    #[error("{0}")]
    Structure(String),
}

impl DecodeError {
    /// The fault code xmlrpc-c answers this with.
    pub fn fault_code(&self) -> i32 {
        match self {
            DecodeError::TooLarge { .. }
            | DecodeError::TooManyNodes
            | DecodeError::TooDeep
            | DecodeError::TooManyParams => fault::LIMIT_EXCEEDED,
            DecodeError::NotUtf8 | DecodeError::Xml(_) | DecodeError::Structure(_) => fault::PARSE,
        }
    }

    /// The fault string: xmlrpc-c's `Call XML not a proper XML-RPC call.  <why>` for a call it
    /// cannot parse, the limit's own sentence otherwise.
    pub fn fault_string(&self) -> String {
        match self.fault_code() {
            fault::PARSE => format!("Call XML not a proper XML-RPC call.  {self}"),
            _ => self.to_string(),
        }
    }
}

fn structure(message: impl Into<String>) -> DecodeError {
    DecodeError::Structure(message.into())
}

fn parse_document(bytes: &[u8]) -> Result<roxmltree::Document<'_>, DecodeError> {
    if bytes.len() > MAX_REQUEST_BYTES {
        return Err(DecodeError::TooLarge { size: bytes.len() });
    }
    let text = std::str::from_utf8(bytes).map_err(|_| DecodeError::NotUtf8)?;
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..roxmltree::ParsingOptions::default()
    };
    roxmltree::Document::parse_with_options(text, options).map_err(|e| match e {
        roxmltree::Error::NodesLimitReached => DecodeError::TooManyNodes,
        e => DecodeError::Xml(e.to_string()),
    })
}

/// The element children of `node`; any non-whitespace text between them is an error.
fn elements<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
) -> Result<Vec<roxmltree::Node<'a, 'i>>, DecodeError> {
    let mut out = Vec::new();
    for child in node.children() {
        if child.is_element() {
            out.push(child);
        } else if child.is_text() && !child.text().unwrap_or_default().trim().is_empty() {
            return Err(structure(format!(
                "Unexpected text inside <{}>",
                node.tag_name().name()
            )));
        }
    }
    Ok(out)
}

/// The one element child of `node`, named `name`.
fn only_child<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    name: &str,
) -> Result<roxmltree::Node<'a, 'i>, DecodeError> {
    match elements(node)?.as_slice() {
        [child] if child.tag_name().name() == name => Ok(*child),
        _ => Err(structure(format!(
            "<{}> must contain exactly one <{name}>",
            node.tag_name().name()
        ))),
    }
}

/// The text of an element that holds text only.
fn text_of(node: roxmltree::Node<'_, '_>) -> Result<String, DecodeError> {
    let mut text = String::new();
    for child in node.children() {
        if child.is_element() {
            return Err(structure(format!(
                "<{}> must contain text only",
                node.tag_name().name()
            )));
        }
        if child.is_text() {
            text.push_str(child.text().unwrap_or_default());
        }
    }
    Ok(text)
}

fn decode_value(node: roxmltree::Node<'_, '_>, depth: usize) -> Result<Value, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    if node.tag_name().name() != "value" {
        return Err(structure(format!(
            "Expected <value>, found <{}>",
            node.tag_name().name()
        )));
    }
    if !node.children().any(|c| c.is_element()) {
        return Ok(Value::String(text_of(node)?));
    }
    let children = elements(node)?;
    let typed = match children.as_slice() {
        [typed] => *typed,
        _ => return Err(structure("<value> must contain one type element")),
    };
    let name = typed.tag_name().name();
    let scalar = || -> Result<String, DecodeError> { text_of(typed) };
    let bad = |what: &str, text: &str| structure(format!("Invalid {what} value {text:?}"));
    Ok(match name {
        "int" | "i4" => {
            let text = scalar()?;
            Value::Int(text.trim().parse().map_err(|_| bad("int", &text))?)
        }
        "i8" => {
            let text = scalar()?;
            Value::I8(text.trim().parse().map_err(|_| bad("i8", &text))?)
        }
        "boolean" => {
            let text = scalar()?;
            match text.trim() {
                "0" => Value::Bool(false),
                "1" => Value::Bool(true),
                _ => return Err(bad("boolean", &text)),
            }
        }
        "double" => {
            let text = scalar()?;
            let d: f64 = text.trim().parse().map_err(|_| bad("double", &text))?;
            if !d.is_finite() {
                return Err(bad("double", &text));
            }
            Value::Double(d)
        }
        "string" => Value::String(scalar()?),
        "base64" => {
            use base64::Engine as _;
            let text: String = scalar()?
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            Value::Base64(
                base64::engine::general_purpose::STANDARD
                    .decode(text.as_bytes())
                    .map_err(|_| bad("base64", &text))?,
            )
        }
        "array" => {
            let data = only_child(typed, "data")?;
            let mut items = Vec::new();
            for item in elements(data)? {
                items.push(decode_value(item, depth + 1)?);
            }
            Value::Array(items)
        }
        "struct" => {
            let mut members = Vec::new();
            for member in elements(typed)? {
                if member.tag_name().name() != "member" {
                    return Err(structure("<struct> may contain <member> only"));
                }
                let parts = elements(member)?;
                let (Some(name), Some(value), 2) = (
                    parts.iter().find(|p| p.tag_name().name() == "name"),
                    parts.iter().find(|p| p.tag_name().name() == "value"),
                    parts.len(),
                ) else {
                    return Err(structure(
                        "<member> must contain one <name> and one <value>",
                    ));
                };
                members.push((text_of(*name)?, decode_value(*value, depth + 1)?));
            }
            Value::Struct(members)
        }
        other => return Err(structure(format!("Unknown value type <{other}>"))),
    })
}

fn root<'a, 'i>(
    doc: &'a roxmltree::Document<'i>,
    name: &str,
) -> Result<roxmltree::Node<'a, 'i>, DecodeError> {
    let root = doc.root_element();
    if root.tag_name().name() != name || root.tag_name().namespace().is_some() {
        return Err(structure(format!(
            "The root element is <{}>, not <{name}>",
            root.tag_name().name()
        )));
    }
    Ok(root)
}

/// Decodes a `methodCall`, within the bounds of the module documentation.
///
/// # Errors
/// A [`DecodeError`] saying what is wrong with the bytes.
pub fn decode_call(bytes: &[u8]) -> Result<MethodCall, DecodeError> {
    let doc = parse_document(bytes)?;
    let call = root(&doc, "methodCall")?;
    let parts = elements(call)?;
    let mut method = None;
    let mut params = Vec::new();
    let mut seen_params = false;
    for part in parts {
        match part.tag_name().name() {
            "methodName" if method.is_none() => method = Some(text_of(part)?),
            "params" if !seen_params => {
                seen_params = true;
                let list = elements(part)?;
                if list.len() > MAX_PARAMS {
                    return Err(DecodeError::TooManyParams);
                }
                for param in list {
                    if param.tag_name().name() != "param" {
                        return Err(structure("<params> may contain <param> only"));
                    }
                    params.push(decode_value(only_child(param, "value")?, 1)?);
                }
            }
            other => {
                return Err(structure(format!("Unexpected <{other}> in <methodCall>")));
            }
        }
    }
    let method = method.ok_or_else(|| structure("<methodCall> has no <methodName>"))?;
    let name_ok = !method.is_empty()
        && method
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '/'));
    if !name_ok {
        return Err(structure(format!("Invalid method name {method:?}")));
    }
    Ok(MethodCall { method, params })
}

/// Decodes a `methodResponse` (the client side, for tests).
///
/// # Errors
/// A [`DecodeError`] saying what is wrong with the bytes.
pub fn decode_response(bytes: &[u8]) -> Result<Response, DecodeError> {
    let doc = parse_document(bytes)?;
    let response = root(&doc, "methodResponse")?;
    let [part] = elements(response)?[..] else {
        return Err(structure(
            "<methodResponse> must contain <params> or <fault>",
        ));
    };
    match part.tag_name().name() {
        "params" => {
            let param = only_child(part, "param")?;
            Ok(Response::Value(decode_value(
                only_child(param, "value")?,
                1,
            )?))
        }
        "fault" => {
            let value = decode_value(only_child(part, "value")?, 1)?;
            match Response::from_value(value) {
                fault @ Response::Fault { .. } => Ok(fault),
                Response::Value(_) => Err(structure(
                    "<fault> must hold a struct with faultCode and faultString",
                )),
            }
        }
        other => Err(structure(format!(
            "Unexpected <{other}> in <methodResponse>"
        ))),
    }
}

const CRLF: &str = "\r\n";
const PROLOGUE: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n";

/// Escapes text as xmlrpc-c does (`<`, `>`, `&`, CR). Characters XML 1.0 cannot carry at all
/// (other C0 controls, U+FFFE, U+FFFF) become U+FFFD, where xmlrpc-c would write a document no
/// parser accepts.
fn escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\r' => out.push_str("&#x0d;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

fn encode_value(out: &mut String, value: &Value) {
    out.push_str("<value>");
    match value {
        Value::Int(i) => {
            let _ = write!(out, "<i4>{i}</i4>");
        }
        Value::I8(i) => {
            let _ = write!(out, "<i8>{i}</i8>");
        }
        Value::Bool(b) => {
            let _ = write!(out, "<boolean>{}</boolean>", u8::from(*b));
        }
        Value::Double(d) => {
            // Display never uses an exponent, which XML-RPC does not allow.
            let d = if d.is_finite() { *d } else { 0.0 };
            let _ = write!(out, "<double>{d}</double>");
        }
        Value::String(s) => {
            out.push_str("<string>");
            escape(out, s);
            out.push_str("</string>");
        }
        Value::Base64(bytes) => {
            use base64::Engine as _;
            out.push_str("<base64>");
            out.push_str(&base64::engine::general_purpose::STANDARD.encode(bytes));
            out.push_str("</base64>");
        }
        Value::Array(items) => {
            out.push_str("<array><data>");
            out.push_str(CRLF);
            for item in items {
                encode_value(out, item);
                out.push_str(CRLF);
            }
            out.push_str("</data></array>");
        }
        Value::Struct(members) => {
            out.push_str("<struct>");
            out.push_str(CRLF);
            for (name, member) in members {
                out.push_str("<member><name>");
                escape(out, name);
                out.push_str("</name>");
                out.push_str(CRLF);
                encode_value(out, member);
                out.push_str("</member>");
                out.push_str(CRLF);
            }
            out.push_str("</struct>");
        }
    }
    out.push_str("</value>");
}

/// A `methodResponse` carrying `value`, as xmlrpc-c writes it.
pub fn encode_response(value: &Value) -> String {
    let mut out = String::from(PROLOGUE);
    out.push_str("<methodResponse>\r\n<params>\r\n<param>");
    encode_value(&mut out, value);
    out.push_str("</param>\r\n</params>\r\n</methodResponse>\r\n");
    out
}

/// A `methodResponse` carrying a fault, as xmlrpc-c writes it.
pub fn encode_fault(code: i32, message: &str) -> String {
    let mut out = String::from(PROLOGUE);
    out.push_str("<methodResponse>\r\n<fault>\r\n");
    encode_value(&mut out, &fault_struct(code, message));
    out.push_str("\r\n</fault>\r\n</methodResponse>\r\n");
    out
}

/// A [`Response`] as xmlrpc-c writes it.
pub fn encode(response: &Response) -> String {
    match response {
        Response::Value(v) => encode_response(v),
        Response::Fault { code, message } => encode_fault(*code, message),
    }
}

/// A `methodCall` (the client side, for tests and the fuzz target's round trip).
pub fn encode_call(method: &str, params: &[Value]) -> String {
    let mut out = String::from(PROLOGUE);
    out.push_str("<methodCall>\r\n<methodName>");
    escape(&mut out, method);
    out.push_str("</methodName>\r\n<params>\r\n");
    for param in params {
        out.push_str("<param>");
        encode_value(&mut out, param);
        out.push_str("</param>\r\n");
    }
    out.push_str("</params>\r\n</methodCall>\r\n");
    out
}

#[cfg(test)]
mod tests;
