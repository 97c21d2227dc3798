//! Is an upload really an image? The magic bytes name a format
//! ([`crate::upload::ImageKind::sniff`]); this module then decodes the whole
//! file with that format's decoder (the crates image-rs itself uses: `png`,
//! `zune-jpeg`, `image-webp`) and checks its dimensions. A bare signature,
//! a truncated or corrupt file, an image too large to be a photo, or a file
//! carrying HTML (an image/HTML polyglot) is refused.
//!
//! Memory: the file is already in memory (at most the upload cap). PNG is
//! decoded row by row, so it needs two rows; JPEG is decoded to grey (one
//! byte per pixel: every entropy-coded block is still decoded and checked);
//! WebP needs its full RGBA frame. With [`MAX_PIXELS`] that bounds one
//! decode to 4 bytes × 40 MP = 160 MB at worst (WebP), freed with the
//! request, and far less for ordinary photos (12 MP JPEG: 12 MB).
//!
//! # Layout
//! - [`check`]: decode a sniffed upload whole; its [`Dimensions`] or the
//!   [`ImageError`] shown in the 4302 message.
//! - [`MAX_SIDE`], [`MAX_PIXELS`]: the bounds, and why.
//! - the markup scan that refuses image/HTML polyglots.

use std::io::Cursor;

use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;

use crate::upload::ImageKind;

/// Longest side accepted, in pixels (WebP's own limit is 16,383).
pub const MAX_SIDE: u32 = 16_384;
/// Most pixels accepted: 40 megapixels covers every phone's default photo
/// (12–24 MP) and full-frame cameras (24–36 MP), and bounds the decoding
/// memory above. Larger images are posters, not house photos.
pub const MAX_PIXELS: u64 = 40_000_000;

/// What is known of an image that decoded whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dimensions {
    pub width: u32,
    pub height: u32,
}

/// Why a file is not accepted as an image (shown in the 4302 message).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// The decoder failed: truncated, corrupt, a bare signature.
    Undecodable(String),
    /// Zero, too wide/high or too many pixels.
    Dimensions(Dimensions),
    /// HTML or script markup inside the file.
    Polyglot(&'static str),
}

impl std::fmt::Display for ImageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImageError::Undecodable(why) => write!(f, "图片无法解码（文件不完整或已损坏）: {why}"),
            ImageError::Dimensions(d) => write!(
                f,
                "图片尺寸 {}×{} 超出范围（每边最多 {MAX_SIDE} 像素，总共最多 {} 万像素）",
                d.width,
                d.height,
                MAX_PIXELS / 10_000
            ),
            ImageError::Polyglot(tag) => write!(f, "图片中含有网页代码（{tag}）"),
        }
    }
}

/// Markup that has no business in a photo. Matched case-insensitively and
/// only when followed by whitespace, `>` or `/`, so that compressed image
/// data (random-looking bytes) matches by chance about once in 10^13 bytes
/// for the five-letter tags: a false refusal is practically impossible.
const MARKUP: &[&str] = &[
    "<!doctype",
    "<html",
    "<head",
    "<body",
    "<script",
    "<iframe",
    "<object",
    "<embed",
    "<meta",
    "<style",
    "<form",
    "<svg",
    "<?xml",
];

/// Decodes `bytes` whole as `kind` and checks its size and content.
pub fn check(kind: ImageKind, bytes: &[u8]) -> Result<Dimensions, ImageError> {
    if let Some(tag) = find_markup(bytes) {
        return Err(ImageError::Polyglot(tag));
    }
    match kind {
        ImageKind::Png => png_dimensions(bytes),
        ImageKind::Jpeg => jpeg_dimensions(bytes),
        ImageKind::Webp => webp_dimensions(bytes),
    }
}

fn within_bounds(d: Dimensions) -> Result<Dimensions, ImageError> {
    let ok = d.width > 0
        && d.height > 0
        && d.width <= MAX_SIDE
        && d.height <= MAX_SIDE
        && u64::from(d.width) * u64::from(d.height) <= MAX_PIXELS;
    if ok {
        Ok(d)
    } else {
        Err(ImageError::Dimensions(d))
    }
}

fn undecodable(e: impl std::fmt::Display) -> ImageError {
    ImageError::Undecodable(e.to_string())
}

/// Every row, then every chunk up to IEND, CRCs checked.
fn png_dimensions(bytes: &[u8]) -> Result<Dimensions, ImageError> {
    let decoder = png::Decoder::new(Cursor::new(bytes));
    let mut reader = decoder.read_info().map_err(undecodable)?;
    let info = reader.info();
    let d = within_bounds(Dimensions {
        width: info.width,
        height: info.height,
    })?;
    while reader.next_row().map_err(undecodable)?.is_some() {}
    reader.finish().map_err(undecodable)?;
    Ok(d)
}

/// Every scan decoded (to grey, to bound memory), strictly: a premature end
/// of the entropy-coded data is an error, not a grey bottom half.
fn jpeg_dimensions(bytes: &[u8]) -> Result<Dimensions, ImageError> {
    let options = DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(MAX_SIDE as usize)
        .set_max_height(MAX_SIDE as usize)
        .jpeg_set_out_colorspace(ColorSpace::Luma);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(bytes, options);
    decoder
        .decode_headers()
        .map_err(|e| undecodable(format!("{e:?}")))?;
    let (width, height) = decoder
        .dimensions()
        .ok_or_else(|| undecodable("no frame header"))?;
    // A JPEG frame header stores each side in 16 bits.
    let side = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    let d = within_bounds(Dimensions {
        width: side(width),
        height: side(height),
    })?;
    decoder
        .decode()
        .map_err(|e| undecodable(format!("{e:?}")))?;
    // The file must end with the end-of-image marker (zero padding after it
    // tolerated; multi-picture files end with their last picture's marker).
    // Anywhere else does not count: a comment segment can hold FF D9, and
    // the decoder is content once the scans are done.
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    if !bytes[..end].ends_with(&[0xFF, 0xD9]) {
        return Err(undecodable("no end-of-image marker"));
    }
    Ok(d)
}

/// The (first) frame decoded whole; the RIFF size must fit the file.
fn webp_dimensions(bytes: &[u8]) -> Result<Dimensions, ImageError> {
    let mut decoder = image_webp::WebPDecoder::new(Cursor::new(bytes)).map_err(undecodable)?;
    let (width, height) = decoder.dimensions();
    let d = within_bounds(Dimensions { width, height })?;
    let size = decoder
        .output_buffer_size()
        .ok_or_else(|| undecodable("image too large"))?;
    let mut frame = vec![0u8; size];
    decoder.read_image(&mut frame).map_err(undecodable)?;
    Ok(d)
}

/// The first [`MARKUP`] tag in `bytes`, if any.
fn find_markup(bytes: &[u8]) -> Option<&'static str> {
    bytes.iter().enumerate().find_map(|(i, &b)| {
        if b != b'<' {
            return None;
        }
        let rest = &bytes[i..];
        MARKUP.iter().copied().find(|tag| {
            rest.len() > tag.len()
                && rest[..tag.len()].eq_ignore_ascii_case(tag.as_bytes())
                && matches!(
                    rest[tag.len()],
                    b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' | b'>' | b'/'
                )
        })
    })
}

/// Valid images made in tests.
#[cfg(test)]
pub(crate) mod test_images {
    pub fn png_of(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Rgb);
        let mut writer = enc.write_header().unwrap();
        let data: Vec<u8> = (0..width * height * 3)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        writer.write_image_data(&data).unwrap();
        writer.finish().unwrap();
        out
    }

    /// A valid 8×8 PNG of exactly `len` bytes: a private ancillary chunk
    /// (`prVt`, which decoders skip) before IEND carries the padding.
    pub fn padded_png(len: usize) -> Vec<u8> {
        let png = png_of(8, 8);
        let iend = png.len() - 12;
        let pad = len - png.len() - 12;
        let mut chunk = b"prVt".to_vec();
        chunk.resize(4 + pad, b'.');
        let mut out = png[..iend].to_vec();
        out.extend_from_slice(&(pad as u32).to_be_bytes());
        out.extend_from_slice(&chunk);
        out.extend_from_slice(&crc32fast::hash(&chunk).to_be_bytes());
        out.extend_from_slice(&png[iend..]);
        assert_eq!(out.len(), len);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::test_images::png_of;
    use super::*;

    fn jpeg_of(width: u16, height: u16) -> Vec<u8> {
        let mut out = Vec::new();
        let enc = jpeg_encoder::Encoder::new(&mut out, 85);
        let data: Vec<u8> = (0..u32::from(width) * u32::from(height) * 3)
            .map(|i| (i * 13 % 253) as u8)
            .collect();
        enc.encode(&data, width, height, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        out
    }

    fn webp_of(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let data: Vec<u8> = (0..width * height * 3)
            .map(|i| (i * 5 % 241) as u8)
            .collect();
        image_webp::WebPEncoder::new(&mut out)
            .encode(&data, width, height, image_webp::ColorType::Rgb8)
            .unwrap();
        out
    }

    fn kind_of(bytes: &[u8]) -> ImageKind {
        ImageKind::sniff(bytes).expect("a known signature")
    }

    #[test]
    fn whole_images_pass_with_their_dimensions() {
        for (bytes, w, h) in [
            (png_of(64, 48), 64, 48),
            (jpeg_of(64, 48), 64, 48),
            (webp_of(64, 48), 64, 48),
        ] {
            assert_eq!(
                check(kind_of(&bytes), &bytes),
                Ok(Dimensions {
                    width: w,
                    height: h
                })
            );
        }
    }

    #[test]
    fn bare_signatures_and_truncated_files_fail() {
        let bare: [&[u8]; 3] = [
            &[0xFF, 0xD8, 0xFF],
            &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A],
            b"RIFF\x04\0\0\0WEBP",
        ];
        for b in bare {
            let err = check(kind_of(b), b).unwrap_err();
            assert!(matches!(err, ImageError::Undecodable(_)), "{b:?}: {err:?}");
        }
        for whole in [png_of(64, 48), jpeg_of(64, 48), webp_of(64, 48)] {
            let kind = kind_of(&whole);
            for cut in [whole.len() / 2, whole.len() - 2, 20] {
                let err = check(kind, &whole[..cut]);
                assert!(
                    matches!(err, Err(ImageError::Undecodable(_))),
                    "{kind:?} cut at {cut} of {}: {err:?}",
                    whole.len()
                );
            }
        }
    }

    #[test]
    fn a_corrupt_body_fails() {
        let mut png = png_of(64, 48);
        let mid = png.len() / 2;
        png[mid] ^= 0xFF; // inside IDAT: the CRC no longer matches
        assert!(matches!(
            check(ImageKind::Png, &png),
            Err(ImageError::Undecodable(_))
        ));
    }

    #[test]
    fn html_inside_or_after_an_image_is_a_polyglot() {
        let html = b"<html><body><script>alert(1)</script></body></html>";
        for whole in [png_of(16, 16), jpeg_of(16, 16), webp_of(16, 16)] {
            let mut appended = whole.clone();
            appended.extend_from_slice(html);
            assert_eq!(
                check(kind_of(&whole), &appended),
                Err(ImageError::Polyglot("<html"))
            );
        }
        // In a JPEG comment segment, right after the SOI marker.
        let jpeg = jpeg_of(16, 16);
        let payload = b"<SCRIPT src=//evil.example/x.js></SCRIPT>";
        let mut commented = jpeg[..2].to_vec();
        commented.extend_from_slice(&[0xFF, 0xFE]);
        commented.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        commented.extend_from_slice(payload);
        commented.extend_from_slice(&jpeg[2..]);
        assert_eq!(
            check(ImageKind::Jpeg, &commented),
            Err(ImageError::Polyglot("<script"))
        );
        // Text that merely contains a `<` is fine.
        assert_eq!(find_markup(b"a<b, x <html5 <scripting"), None);
        assert_eq!(find_markup(b"x<svg/onload=1>"), Some("<svg"));
    }

    #[test]
    fn a_jpeg_must_end_with_its_end_of_image_marker() {
        let jpeg = jpeg_of(16, 16);
        // A comment segment holding FF D9 must not stand in for the real one.
        let payload = [b'x', 0xFF, 0xD9, b'y'];
        let mut commented = jpeg[..2].to_vec();
        commented.extend_from_slice(&[0xFF, 0xFE]);
        commented.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
        commented.extend_from_slice(&payload);
        commented.extend_from_slice(&jpeg[2..]);
        assert!(check(ImageKind::Jpeg, &commented).is_ok());
        let truncated = &commented[..commented.len() - 2];
        assert!(matches!(
            check(ImageKind::Jpeg, truncated),
            Err(ImageError::Undecodable(_))
        ));
        // Zero padding after the marker is tolerated.
        let mut padded = jpeg.clone();
        padded.extend_from_slice(&[0; 16]);
        assert!(check(ImageKind::Jpeg, &padded).is_ok());
    }

    #[test]
    fn dimensions_are_bounded() {
        let bounds = |width, height| within_bounds(Dimensions { width, height }).is_ok();
        assert!(bounds(4032, 3024));
        assert!(bounds(MAX_SIDE, 2000));
        assert!(!bounds(MAX_SIDE + 1, 10));
        assert!(!bounds(10, MAX_SIDE + 1));
        assert!(!bounds(0, 10));
        assert!(!bounds(8000, 6000), "48 MP");
        // A tiny PNG claiming a huge canvas is refused before any row is read.
        let mut huge = png_of(1, 1);
        huge[16..20].copy_from_slice(&20_000u32.to_be_bytes());
        huge[20..24].copy_from_slice(&20_000u32.to_be_bytes());
        let crc = crc32fast::hash(&huge[12..29]);
        huge[29..33].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(
            check(ImageKind::Png, &huge),
            Err(ImageError::Dimensions(Dimensions {
                width: 20_000,
                height: 20_000
            }))
        ));
    }
}
