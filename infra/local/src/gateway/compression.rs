//! API Gateway's payload compression, as a REST API's `MinimumCompressionSize` turns it on:
//! an integration's answer is sent `gzip`- or `deflate`-encoded when
//! - the API sets a minimum size and the body has at least that many bytes,
//! - the request's `Accept-Encoding` ranks a coding API Gateway supports first (a missing
//!   header, `*` or `identity` first: no compression), and
//! - the answer has no `Content-Encoding` of its own.
//!
//! Gateway responses (throttled, unauthorized, …) are sent as they are.

use std::io::Read;

use flate2::{
    Compression,
    read::{GzEncoder, ZlibEncoder},
};
use http::{HeaderMap, HeaderValue, Response, header};

/// A content coding API Gateway compresses with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coding {
    Gzip,
    /// HTTP's `deflate`: the zlib format (RFC 9110, 8.4.1.2).
    Deflate,
}

impl Coding {
    fn name(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Deflate => "deflate",
        }
    }
}

/// The coding an `Accept-Encoding` value ranks first, when it is one API Gateway
/// compresses with: the highest `q`, the earliest listed among equals; `q=0` is a refusal.
fn preferred(accept_encoding: &str) -> Option<Coding> {
    let mut best: Option<(f32, &str)> = None;
    for item in accept_encoding.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or_default().trim();
        if name.is_empty() {
            continue;
        }
        let q = parts
            .filter_map(|p| p.split_once('='))
            .find(|(key, _)| key.trim().eq_ignore_ascii_case("q"))
            .and_then(|(_, value)| value.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if q > 0.0 && best.is_none_or(|(best_q, _)| q > best_q) {
            best = Some((q, name));
        }
    }
    match best?.1.to_ascii_lowercase().as_str() {
        "gzip" => Some(Coding::Gzip),
        "deflate" => Some(Coding::Deflate),
        _ => None,
    }
}

/// Compresses `response` in place when API Gateway would (see the module's rules), with
/// `minimum` the API's `MinimumCompressionSize` (`None`: compression off).
pub fn apply(minimum: Option<usize>, request_headers: &HeaderMap, response: &mut Response<Vec<u8>>) {
    let Some(minimum) = minimum else { return };
    if response.body().len() < minimum || response.headers().contains_key(header::CONTENT_ENCODING) {
        return;
    }
    let accepted = request_headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok());
    let Some(coding) = preferred(&accepted.collect::<Vec<_>>().join(",")) else { return };
    let (body, mut encoded) = (response.body().as_slice(), Vec::new());
    let read = match coding {
        Coding::Gzip => GzEncoder::new(body, Compression::default()).read_to_end(&mut encoded),
        Coding::Deflate => ZlibEncoder::new(body, Compression::default()).read_to_end(&mut encoded),
    };
    read.expect("encoding from memory to memory");
    *response.body_mut() = encoded;
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_LENGTH);
    headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding.name()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(accept_encoding: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = accept_encoding {
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn answer(body: &[u8]) -> Response<Vec<u8>> {
        let mut response = Response::new(body.to_vec());
        response.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        response
    }

    #[test]
    fn given_accept_encoding_values_then_the_first_ranked_coding_if_api_gateway_has_it() {
        assert_eq!(preferred("gzip, deflate, br, zstd"), Some(Coding::Gzip));
        assert_eq!(preferred("deflate, gzip"), Some(Coding::Deflate));
        assert_eq!(preferred("br;q=1.0, gzip;q=0.8"), None);
        assert_eq!(preferred("br;q=0, gzip;q=0.5"), Some(Coding::Gzip));
        assert_eq!(preferred("identity, gzip;q=0.5"), None);
        assert_eq!(preferred("GZIP;Q=0.9, deflate;q=0.1"), Some(Coding::Gzip));
        assert_eq!(preferred("gzip;q=0"), None);
        assert_eq!(preferred("*"), None);
        assert_eq!(preferred(""), None);
    }

    #[test]
    fn given_a_large_enough_answer_and_gzip_accepted_then_it_is_sent_gzipped() {
        let body = b"{\"question\":\"Lunch?\"}".repeat(10);
        let mut response = answer(&body);
        apply(Some(100), &request(Some("gzip, deflate, br")), &mut response);
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
        assert!(!response.headers().contains_key(header::CONTENT_LENGTH), "hyper sets the new length");
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(response.body().as_slice()).read_to_end(&mut decoded).unwrap();
        assert_eq!(decoded, body);
        assert!(response.body().len() < body.len());
    }

    #[test]
    fn given_deflate_preferred_then_the_zlib_format() {
        let body = vec![b'a'; 200];
        let mut response = answer(&body);
        apply(Some(0), &request(Some("deflate")), &mut response);
        assert_eq!(response.headers()[header::CONTENT_ENCODING], "deflate");
        let mut decoded = Vec::new();
        flate2::read::ZlibDecoder::new(response.body().as_slice()).read_to_end(&mut decoded).unwrap();
        assert_eq!(decoded, body);
    }

    #[test]
    fn given_what_api_gateway_sends_as_is_then_the_answer_is_unchanged() {
        let body = vec![b'a'; 200];
        let cases: [(Option<usize>, Option<&str>, Option<&str>); 5] = [
            (None, Some("gzip"), None),          // compression off
            (Some(201), Some("gzip"), None),     // smaller than the minimum
            (Some(0), None, None),               // no Accept-Encoding
            (Some(0), Some("br"), None),         // a coding API Gateway lacks
            (Some(0), Some("gzip"), Some("br")), // already encoded
        ];
        for (minimum, accept, own_encoding) in cases {
            let mut response = answer(&body);
            if let Some(own) = own_encoding {
                response.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static(own));
            }
            let before = response.headers().clone();
            apply(minimum, &request(accept), &mut response);
            assert_eq!(response.body(), &body, "{minimum:?} {accept:?} {own_encoding:?}");
            assert_eq!(response.headers(), &before);
        }
    }
}
