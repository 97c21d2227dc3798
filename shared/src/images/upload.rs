//! Image uploads: reading a bounded request body, parsing the
//! `multipart/form-data` form, and deciding the image type by its magic bytes.
//!
//! The parser is hand-written for a fully buffered body (the body is at most
//! [`MAX_UPLOAD_BODY`] bytes, read once with a cap): it only has to find the
//! boundary delimiters in a slice, and it hands out sub-slices of the body, so
//! the file is never copied. `multer` (in the workspace for fdfs-proxy) is
//! built for async byte streams and would add a stream adapter and its
//! dependencies to every upload component for no gain here.
//!
//! Errors (openapi.yaml, "Images" in the API description):
//! - not `multipart/form-data`, or no boundary: 4103 (the request is malformed,
//!   whatever file it carries);
//! - body or file too large: 4302 with HTTP 413;
//! - unreadable form, missing or empty field, not JPEG/PNG/WebP, or not a
//!   whole image of that format (see [`crate::images::clean`]): 4302 with HTTP 400.
//!
//! An accepted image is never stored as sent: [`check_image`] re-encodes it
//! from its pixels ([`crate::images::clean`]), so no metadata a client sent
//! reaches the image store.
//!
//! # Layout
//! - [`serve_upload`]: the frame of an upload route: method, cheap checks
//!   before the body, the capped body.
//! - [`image_field`], [`check_image`]: the form's file as a cleaned [`Image`].
//! - [`parse_multipart`], [`boundary`]: the form itself.

use std::future::Future;

use spin_sdk::http::{IncomingRequest, Method, Response, ResponseOutparam};

use crate::errno::{ApiError, ApiResult, Errno};
use crate::http::{self, ApiRequest, respond};

use super::{Image, ImageKind};

/// Largest image accepted: 10 MiB (openapi.yaml, "Images").
pub const MAX_IMAGE_BYTES: usize = 10 * 1024 * 1024;
/// Largest re-encoded image stored: what the image store takes
/// (fdfs-proxy's default `--max-file-size`). A lossless re-encoding can
/// outgrow its upload (a palette PNG expanded to RGB, a lossy WebP stored
/// lossless); such a file gets a clear 4302/413 here instead of the
/// store's refusal as a 502.
pub const MAX_STORED_BYTES: usize = MAX_IMAGE_BYTES;
/// Room for the multipart framing around the file: boundaries, part headers,
/// a long file name, a few small extra fields.
pub const MULTIPART_OVERHEAD: usize = 64 * 1024;
/// Largest request body an upload endpoint reads.
pub const MAX_UPLOAD_BODY: usize = MAX_IMAGE_BYTES + MULTIPART_OVERHEAD;
/// After a refusal has been answered, or once a body is found to be over
/// [`MAX_UPLOAD_BODY`], the body is still read and thrown away up to this
/// size, so an ordinary client (one that sends the whole body before it
/// reads) hears the answer instead of a reset connection; beyond it we stop
/// reading and the host lets the connection go.
pub const MAX_DRAINED_BODY: usize = 4 * MAX_UPLOAD_BODY;
/// After a refusal has been answered, a body whose declared
/// `Content-Length` is at most this is read and thrown away, so a browser
/// that sends a file somewhat over the cap before it reads still hears the
/// answer; a longer or undeclared (chunked) body is not read at all and the
/// host lets the connection go. Less than [`MAX_DRAINED_BODY`]: the draining
/// instance is held for a request already answered. (Real Spin 4.0.2 also
/// grows its memory by more than it drains when a guest reads a body after
/// answering, so an endless chunked body must never be drained.)
pub const MAX_DRAINED_AFTER_REFUSAL: usize = MAX_UPLOAD_BODY + MAX_UPLOAD_BODY / 2;
/// RFC 2046: a boundary is 1 to 70 characters.
pub const MAX_BOUNDARY_LEN: usize = 70;
/// Largest header block of one part.
pub const MAX_PART_HEADER_BYTES: usize = 8 * 1024;
/// Most parts a form may have (the upload forms have one).
pub const MAX_PARTS: usize = 16;

fn file_error(message: impl Into<String>) -> ApiError {
    ApiError::msg(Errno::InvalidImage, message)
}

fn too_large() -> ApiError {
    file_error(format!(
        "图片不能超过 {} MiB",
        MAX_IMAGE_BYTES / (1024 * 1024)
    ))
    .with_status(413)
}

/// The image in form field `field` of a `multipart/form-data` request.
pub fn image_field(req: &ApiRequest, field: &str) -> ApiResult<Image> {
    let content_type = req.header("content-type").unwrap_or("");
    let boundary = boundary(content_type)?;
    let body = req.body();
    if body.len() > MAX_UPLOAD_BODY {
        return Err(too_large());
    }
    let parts = parse_multipart(body, boundary)
        .map_err(|e| file_error(format!("无法读取上传的表单: {e}")))?;
    let part = parts
        .iter()
        .find(|p| p.name == field)
        .ok_or_else(|| file_error(format!("缺少文件字段 {field}")))?;
    check_image(part.data)
}

/// Size and type checks of an uploaded file, and its cleaning: the magic
/// bytes name the format, the whole file must decode as that format within
/// [`crate::images::clean`]'s bounds, and what is stored is its pixels
/// encoded again in that format.
pub fn check_image(bytes: &[u8]) -> ApiResult<Image> {
    if bytes.is_empty() {
        return Err(file_error("上传的文件是空的"));
    }
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(too_large());
    }
    let kind =
        ImageKind::sniff(bytes).ok_or_else(|| file_error("只支持 JPEG、PNG 或 WebP 格式的图片"))?;
    let bytes = crate::images::clean::clean(kind, bytes).map_err(|e| file_error(e.to_string()))?;
    if bytes.len() > MAX_STORED_BYTES {
        return Err(file_error(format!(
            "图片重新编码后超过 {} MiB（PNG 和 WebP 按无损保存），请上传 JPEG 或较小的图片",
            MAX_STORED_BYTES / (1024 * 1024)
        ))
        .with_status(413));
    }
    Ok(Image { kind, bytes })
}

/// The `boundary` parameter of a `multipart/form-data` content type; 4103 when
/// the request is not such a form at all.
pub fn boundary(content_type: &str) -> ApiResult<&str> {
    let not_a_form = || ApiError::param("请以 multipart/form-data 表单上传文件");
    let mut params = split_params(content_type);
    let mime = params.next().unwrap_or("").trim();
    if !mime.eq_ignore_ascii_case("multipart/form-data") {
        return Err(not_a_form());
    }
    let boundary = params
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| unquote(v.trim()))
        .ok_or_else(not_a_form)?;
    if boundary.is_empty()
        || boundary.len() > MAX_BOUNDARY_LEN
        || boundary.ends_with(' ')
        || !boundary.bytes().all(is_boundary_char)
    {
        return Err(ApiError::param("multipart 表单的 boundary 无效"));
    }
    Ok(boundary)
}

/// RFC 2046 `bchars`.
fn is_boundary_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&b)
}

/// One part of a form.
#[derive(Debug, PartialEq, Eq)]
pub struct Part<'a> {
    pub name: String,
    pub file_name: Option<String>,
    pub data: &'a [u8],
}

/// Why a form could not be read (shown to the client inside a 4302 message).
#[derive(Debug, PartialEq, Eq)]
pub struct MultipartError(pub &'static str);

impl std::fmt::Display for MultipartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Splits a buffered `multipart/form-data` body into its parts (RFC 7578,
/// RFC 2046 §5.1.1). The preamble and epilogue are ignored; the closing
/// delimiter is required, so a truncated upload is an error.
pub fn parse_multipart<'a>(
    body: &'a [u8],
    boundary: &str,
) -> Result<Vec<Part<'a>>, MultipartError> {
    // `--boundary` opens the body or follows a line break.
    let dash_boundary = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    let mut pos = if body.starts_with(dash_boundary.as_bytes()) {
        dash_boundary.len()
    } else {
        find(body, delimiter.as_bytes(), 0).ok_or(MultipartError("找不到分隔符"))? + delimiter.len()
    };
    let mut parts = Vec::new();
    loop {
        // After a delimiter: `--` closes the form, else optional padding and CRLF.
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        let padding = rest
            .iter()
            .take_while(|&&b| b == b' ' || b == b'\t')
            .count();
        if !rest[padding..].starts_with(b"\r\n") {
            return Err(MultipartError("分隔符后缺少换行"));
        }
        pos += padding + 2;
        if parts.len() == MAX_PARTS {
            return Err(MultipartError("表单字段过多"));
        }
        let header_end = find(body, b"\r\n\r\n", pos)
            .filter(|&end| end - pos <= MAX_PART_HEADER_BYTES)
            .ok_or(MultipartError("字段头不完整或过长"))?;
        // A part with no headers has its blank line right away.
        let headers = &body[pos..header_end];
        let (name, file_name) = part_disposition(headers)?;
        let data_start = header_end + 4;
        let data_end =
            find(body, delimiter.as_bytes(), data_start).ok_or(MultipartError("表单不完整"))?;
        parts.push(Part {
            name,
            file_name,
            data: &body[data_start..data_end],
        });
        pos = data_end + delimiter.len();
    }
}

/// `name` and `filename` from a part's `Content-Disposition: form-data` header.
fn part_disposition(headers: &[u8]) -> Result<(String, Option<String>), MultipartError> {
    let headers = std::str::from_utf8(headers).map_err(|_| MultipartError("字段头不是 UTF-8"))?;
    for line in headers.split("\r\n") {
        let Some((key, value)) = line.split_once(':') else {
            if line.is_empty() {
                continue;
            }
            return Err(MultipartError("字段头格式错误"));
        };
        if !key.trim().eq_ignore_ascii_case("content-disposition") {
            continue;
        }
        let mut params = split_params(value);
        if !params
            .next()
            .is_some_and(|d| d.trim().eq_ignore_ascii_case("form-data"))
        {
            return Err(MultipartError("字段不是 form-data"));
        }
        let mut name = None;
        let mut file_name = None;
        for param in params {
            let Some((k, v)) = param.split_once('=') else {
                continue;
            };
            let v = unescape(unquote(v.trim()));
            match k.trim().to_ascii_lowercase().as_str() {
                "name" => name = Some(v),
                "filename" => file_name = Some(v),
                _ => {}
            }
        }
        let name = name.ok_or(MultipartError("字段缺少 name"))?;
        return Ok((name, file_name));
    }
    Err(MultipartError("字段缺少 Content-Disposition"))
}

/// Splits a header value at `;` outside double quotes.
fn split_params(value: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    let mut cuts = Vec::new();
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            ';' if !in_quotes => {
                cuts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    cuts.push(&value[start..]);
    cuts.into_iter()
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

/// Undoes `\x` quoted-pair escapes.
fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// First index of `needle` in `haystack` at or after `from`.
fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = from;
    while i + needle.len() <= haystack.len() {
        let offset = haystack[i..=haystack.len() - needle.len()]
            .iter()
            .position(|&b| b == first)?;
        i += offset;
        if haystack[i..].starts_with(needle) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Serves an upload endpoint (POST) without reading what it will refuse.
///
/// Another method is 405. Otherwise `precheck` sees the request's headers
/// (the body still unread) and does the cheap checks: session, path ids,
/// ownership; a `Content-Length` over [`MAX_UPLOAD_BODY`] is 4302/413. Any
/// of these refusals is answered before a byte of the body is read; only
/// then is the body read and dropped (up to [`MAX_DRAINED_AFTER_REFUSAL`]), so a
/// client that sends everything before it reads still hears the answer, and
/// a small body leaves the connection clean for the next request. Otherwise
/// the body is read with a cap (a body found longer than [`MAX_UPLOAD_BODY`]
/// while reading is 413, before anything is parsed) and `handler` gets the
/// full request and the precheck's result.
pub async fn serve_upload<P, C, F, Fut>(
    req: IncomingRequest,
    response_out: ResponseOutparam,
    precheck: C,
    handler: F,
) where
    C: FnOnce(&ApiRequest) -> ApiResult<P>,
    F: FnOnce(ApiRequest, P) -> Fut,
    Fut: Future<Output = ApiResult<Response>>,
{
    let mut req = ApiRequest::new(req);
    let checked = http::read_client_mode().and_then(|()| {
        if *req.method() != Method::Post {
            return Err(ApiError::method_not_allowed(&[Method::Post]));
        }
        let checked = precheck(&req)?;
        if req
            .declared_length()
            .is_some_and(|n| n > MAX_UPLOAD_BODY as u64)
        {
            return Err(too_large());
        }
        Ok(checked)
    });
    let result = match checked {
        Err(refused) => {
            respond(response_out, http::error_response(&refused)).await;
            // The answer is out. A body the client declared, and not far
            // over the cap, is read and dropped so that a client that sends
            // everything before it reads still hears the answer (a lingering
            // close). An undeclared (chunked) or larger body is not read at
            // all: the host lets the connection go, and no instance is held
            // by a client streaming without end.
            if req
                .declared_length()
                .is_some_and(|n| n <= MAX_DRAINED_AFTER_REFUSAL as u64)
            {
                let _ = req.read_body(0, MAX_DRAINED_AFTER_REFUSAL);
            }
            return;
        }
        Ok(checked) => match req.read_body(MAX_UPLOAD_BODY, MAX_DRAINED_BODY) {
            Err(e) => Err(e),
            Ok(None) => Err(too_large()),
            Ok(Some(body)) => {
                req.set_body(body);
                handler(req, checked).await
            }
        },
    };
    respond(
        response_out,
        result.unwrap_or_else(|e| http::error_response(&e)),
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13];

    fn form(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut body = b"preamble\r\n".to_vec();
        for (name, file, data) in parts {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            let file = file
                .map(|f| format!("; filename=\"{f}\""))
                .unwrap_or_default();
            body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"{file}\r\nContent-Type: application/octet-stream\r\n\r\n")
                    .as_bytes(),
            );
            body.extend_from_slice(data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\nepilogue").as_bytes());
        body
    }

    #[test]
    fn sniffs_by_magic_bytes_only() {
        assert_eq!(
            ImageKind::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(ImageKind::Jpeg)
        );
        assert_eq!(ImageKind::sniff(PNG), Some(ImageKind::Png));
        assert_eq!(
            ImageKind::sniff(b"RIFF\x10\0\0\0WEBPVP8 "),
            Some(ImageKind::Webp)
        );
        for bad in [
            &b"GIF89a\x01\0\x01\0"[..],
            b"hello, this is text",
            b"RIFF\x10\0\0\0WAVEfmt ",
            &[0xFF, 0xD8],
            &PNG[..7],
            b"",
        ] {
            assert_eq!(ImageKind::sniff(bad), None, "{bad:?}");
        }
        assert_eq!(ImageKind::Webp.ext(), "webp");
        assert_eq!(ImageKind::Jpeg.content_type(), "image/jpeg");
    }

    #[test]
    fn image_checks() {
        use crate::images::clean::test_images::{padded_png, png_of};
        assert_eq!(check_image(&png_of(8, 8)).unwrap().kind, ImageKind::Png);
        let bare = check_image(PNG).unwrap_err();
        assert_eq!((bare.errno, bare.status), (Errno::InvalidImage, 400));
        let empty = check_image(b"").unwrap_err();
        assert_eq!((empty.errno, empty.status), (Errno::InvalidImage, 400));
        let gif = check_image(b"GIF89a....").unwrap_err();
        assert_eq!((gif.errno, gif.status), (Errno::InvalidImage, 400));
        let big = padded_png(MAX_IMAGE_BYTES);
        assert!(check_image(&big).is_ok());
        let e = check_image(&padded_png(MAX_IMAGE_BYTES + 1)).unwrap_err();
        assert_eq!((e.errno, e.status), (Errno::InvalidImage, 413));
    }

    /// A 16-colour palette PNG of noise (4 bits a pixel, 8 MiB) is stored
    /// as 8-bit RGB, which no deflate brings back under the store's cap.
    #[test]
    fn a_re_encoding_over_the_store_cap_is_a_413() {
        const SIDE: u32 = 4096;
        let mut seed = 1u32;
        let indices: Vec<u8> = (0..SIDE * SIDE / 2)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (seed >> 24) as u8
            })
            .collect();
        let mut png = Vec::new();
        let mut enc = png::Encoder::new(&mut png, SIDE, SIDE);
        enc.set_color(png::ColorType::Indexed);
        enc.set_depth(png::BitDepth::Four);
        enc.set_palette(
            (0..16u8)
                .flat_map(|i| [i * 16, 255 - i * 16, i * 5])
                .collect::<Vec<_>>(),
        );
        let mut writer = enc.write_header().unwrap();
        writer.write_image_data(&indices).unwrap();
        writer.finish().unwrap();
        assert!(png.len() <= MAX_IMAGE_BYTES, "{} bytes", png.len());
        let e = check_image(&png).unwrap_err();
        assert_eq!(
            (e.errno, e.status),
            (Errno::InvalidImage, 413),
            "{}",
            e.message
        );
    }

    #[test]
    fn boundaries_from_content_types() {
        assert_eq!(
            boundary("multipart/form-data; boundary=----WebKitFormBoundaryX1").unwrap(),
            "----WebKitFormBoundaryX1"
        );
        assert_eq!(
            boundary("Multipart/Form-Data;charset=utf-8; BOUNDARY=\"a b:c\"").unwrap(),
            "a b:c"
        );
        for bad in [
            "",
            "application/json",
            "multipart/mixed; boundary=x",
            "multipart/form-data",
            "multipart/form-data; boundary=",
            "multipart/form-data; boundary=\"\"",
            "multipart/form-data; boundary=a\u{0}b",
        ] {
            assert_eq!(
                boundary(bad).unwrap_err().errno,
                Errno::InvalidParam,
                "{bad}"
            );
        }
        let long = format!("multipart/form-data; boundary={}", "x".repeat(71));
        assert!(boundary(&long).is_err());
    }

    #[test]
    fn parses_parts_without_copying() {
        // The data contains a CRLF, a dash run and a near-boundary.
        let data: &[u8] = b"\xFF\xD8\xFF\r\n--b0\r\n--boun\r\n-bound\r\n\r\n";
        let body = form(
            "bound",
            &[
                ("title", None, b"hi"),
                ("avatar", Some("me \\\"x\\\".jpg"), data),
            ],
        );
        let parts = parse_multipart(&body, "bound").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "title");
        assert_eq!(parts[0].data, b"hi");
        assert_eq!(parts[1].name, "avatar");
        assert_eq!(parts[1].file_name.as_deref(), Some("me \"x\".jpg"));
        assert_eq!(parts[1].data, data);
        // Without a preamble, an empty part, and transport padding.
        let body = b"--b  \r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n--b--";
        let parts = parse_multipart(body, "b").unwrap();
        assert_eq!((parts[0].name.as_str(), parts[0].data), ("a", &b""[..]));
    }

    #[test]
    fn malformed_forms_are_errors() {
        let good = form("b", &[("avatar", Some("a.png"), PNG)]);
        assert!(parse_multipart(&good, "b").is_ok());
        // Truncated anywhere before the closing delimiter.
        for cut in [5, 20, 60, good.len() - 20] {
            assert!(parse_multipart(&good[..cut], "b").is_err(), "cut at {cut}");
        }
        assert!(parse_multipart(&good, "other").is_err());
        assert!(parse_multipart(b"--b\r\nX-No-Disposition: 1\r\n\r\nx\r\n--b--", "b").is_err());
        assert!(
            parse_multipart(
                b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--",
                "b"
            )
            .is_err()
        );
        assert!(
            parse_multipart(
                b"--b\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--b--",
                "b"
            )
            .is_err()
        );
        let many: Vec<(&str, Option<&str>, &[u8])> = vec![("f", None, b"1"); MAX_PARTS + 1];
        assert!(parse_multipart(&form("b", &many), "b").is_err());
        let huge_header = format!(
            "--b\r\nContent-Disposition: form-data; name=a\r\nX: {}\r\n\r\nx\r\n--b--",
            "y".repeat(MAX_PART_HEADER_BYTES)
        );
        assert!(parse_multipart(huge_header.as_bytes(), "b").is_err());
    }

    #[test]
    fn find_is_exact() {
        assert_eq!(find(b"abcabd", b"abd", 0), Some(3));
        assert_eq!(find(b"abcabd", b"abc", 1), None);
        assert_eq!(find(b"ab", b"abc", 0), None);
        assert_eq!(find(b"xxab", b"ab", 4), None);
    }
}
