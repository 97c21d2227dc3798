//! Content types: from a file's extension, or its magic bytes when the
//! extension says nothing, and the extension to store for an upload's type.
//!
//! Only inert types are ever served: no HTML, SVG or script types, since
//! uploads are user-controlled and served from the app's origin.

/// Served when nothing better is known.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// (extension, content type) pairs, both directions.
const TYPES: &[(&str, &str)] = &[
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("png", "image/png"),
    ("webp", "image/webp"),
    ("gif", "image/gif"),
    ("bmp", "image/bmp"),
    ("avif", "image/avif"),
    ("txt", "text/plain; charset=utf-8"),
    ("pdf", "application/pdf"),
];

/// The content type for a file extension (case-insensitive).
pub fn from_ext(ext: &str) -> Option<&'static str> {
    TYPES
        .iter()
        .find(|(e, _)| e.eq_ignore_ascii_case(ext))
        .map(|(_, t)| *t)
}

/// The extension to store for an upload's `Content-Type`; generic types
/// (octet-stream, absent) give none so the bytes decide.
pub fn ext_for_content_type(ct: &str) -> Option<&'static str> {
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "image/jpeg" | "image/jpg" | "image/pjpeg" => Some("jpg"),
        "text/plain" => Some("txt"),
        _ => TYPES
            .iter()
            .find(|(_, t)| t.split(';').next() == Some(essence.as_str()))
            .map(|(e, _)| *e),
    }
}

/// The (extension, content type) a file's first bytes identify.
pub fn sniff(head: &[u8]) -> Option<(&'static str, &'static str)> {
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(("jpg", "image/jpeg"))
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(("png", "image/png"))
    } else if head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"WEBP" {
        Some(("webp", "image/webp"))
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Some(("gif", "image/gif"))
    } else if head.starts_with(b"%PDF-") {
        Some(("pdf", "application/pdf"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings() {
        assert_eq!(from_ext("JPG"), Some("image/jpeg"));
        assert_eq!(from_ext("html"), None);
        assert_eq!(ext_for_content_type("image/png; foo=bar"), Some("png"));
        assert_eq!(ext_for_content_type("IMAGE/JPEG"), Some("jpg"));
        assert_eq!(
            ext_for_content_type("text/plain; charset=utf-8"),
            Some("txt")
        );
        assert_eq!(ext_for_content_type("application/octet-stream"), None);
        assert_eq!(ext_for_content_type("text/html"), None);
    }

    #[test]
    fn magic() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]).unwrap().0, "jpg");
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0").unwrap().0, "png");
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8 ").unwrap().0, "webp");
        assert_eq!(sniff(b"RIFF\x10\0\0\0WAVEfmt ").map(|s| s.0), None);
        assert_eq!(sniff(b"GIF89a").unwrap().0, "gif");
        assert_eq!(sniff(b"hello"), None);
        assert_eq!(sniff(b""), None);
    }
}
