//! Uploaded images, cleaned: every accepted file is decoded whole and
//! **re-encoded from its pixels**, so nothing a client sent but the picture
//! itself is ever stored or served.
//!
//! The magic bytes name the format ([`crate::images::ImageKind::sniff`]);
//! the file is decoded with that format's decoder (the crates image-rs
//! itself uses: `png`, `zune-jpeg`, `image-webp`), its EXIF orientation is
//! applied to the pixels, and the pixels are written out again in the same
//! format. A bare signature, a truncated or corrupt file, or an image too
//! large to be a photo is refused ([`ImageError`]).
//!
//! What is kept: the pixels (first frame of an animation), their
//! transparency, and the format:
//! - JPEG → baseline JPEG at [`JPEG_QUALITY`], chroma subsampled 4:2:0 as
//!   cameras write it (grey JPEGs stay grey);
//! - PNG → PNG, 8 bits per channel (16-bit samples are reduced, palettes
//!   expanded to RGB(A)), no ancillary chunks;
//! - WebP → lossless WebP (`image-webp` has no lossy encoder; a lossy
//!   upload grows, but keeps its alpha and its exact decoded pixels).
//!
//! What is dropped: every text chunk (`tEXt`, `zTXt`, `iTXt`), comment,
//! EXIF (GPS position, camera serial, …; its orientation is applied
//! first), XMP, every `APPn` segment and unknown chunk, and bytes after the
//! image. **ICC profiles are dropped too**: a profile is a container of its
//! own (free text in its `desc`/`cprt` tags), and keeping a checked copy
//! would need a colour-management engine to rebuild or convert it. The
//! stored pixels are therefore shown as sRGB, which nearly every photo is;
//! a wide-gamut (Display P3) photo looks slightly less saturated on a
//! wide-gamut screen. Colour-accurate display would convert to sRGB here.
//!
//! So an image/HTML polyglot, a script in a comment, or a PNG text chunk
//! holding markup comes out as a plain picture: no markup filter is needed
//! (a filter of bad words can't be complete, and it refused real photos
//! whose metadata happened to spell one).
//!
//! Memory (one request, freed with it): the upload (at most 10 MiB), the
//! decoded frame — at most 4 bytes × [`MAX_PIXELS`] = 160 MB for an RGBA
//! PNG or WebP, 3 bytes per pixel for a colour JPEG (12 MP: 36 MB; a
//! progressive JPEG's decoder also keeps its coefficients, 2 bytes per
//! sample) — and the encoded output. JPEG and PNG are encoded from the
//! frame row by row through an oriented view, so orientation costs no
//! copy. The WebP encoder copies its input to RGBA, so a WebP needs a
//! second frame (worst case 320 MB at 40 MP; a turned one is made upright
//! first and the stored frame freed, so no third).
//!
//! # Layout
//! - [`clean`]: a sniffed upload in, the re-encoded file out, or the
//!   [`ImageError`] shown in the 4302 message.
//! - [`MAX_SIDE`], [`MAX_PIXELS`], [`JPEG_QUALITY`]: the bounds and the
//!   output quality, and why.
//! - decoding: one function per format to `Pixels` and an
//!   [`Orientation`] read from the file's EXIF.
//! - [`Orientation`]: the EXIF tag (read by hand: one tag of IFD0) and the
//!   pixel mapping it stands for.
//! - encoding: one function per format, from an `Oriented` view.

use std::io::{Cursor, Write};

use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;

use super::ImageKind;

/// Longest side accepted, in pixels (WebP's own limit is 16,383).
pub const MAX_SIDE: u32 = 16_384;
/// Most pixels accepted: 40 megapixels covers every phone's default photo
/// (12–24 MP) and full-frame cameras (24–36 MP), and bounds the decoding
/// memory above. Larger images are posters, not house photos.
pub const MAX_PIXELS: u64 = 40_000_000;
/// Quality of stored JPEGs (1–100): what phone cameras write by default;
/// a second generation at this quality shows no visible loss, and the file
/// stays about the size of the upload.
pub const JPEG_QUALITY: u8 = 90;

/// The size of an image that decoded whole.
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
    /// The pixels decoded but could not be written again (an encoder's own
    /// limit; not expected within [`MAX_SIDE`]).
    Unencodable(String),
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
            ImageError::Unencodable(why) => write!(f, "图片无法重新编码: {why}"),
        }
    }
}

/// Decodes `bytes` whole as `kind`, applies its EXIF orientation and
/// encodes the pixels again as `kind`: the file to store.
pub fn clean(kind: ImageKind, bytes: &[u8]) -> Result<Vec<u8>, ImageError> {
    let (pixels, orientation) = match kind {
        ImageKind::Png => decode_png(bytes)?,
        ImageKind::Jpeg => decode_jpeg(bytes)?,
        ImageKind::Webp => decode_webp(bytes)?,
    };
    let view = Oriented {
        pixels: &pixels,
        orientation,
    };
    match kind {
        ImageKind::Png => encode_png(&view),
        ImageKind::Jpeg => encode_jpeg(&view),
        ImageKind::Webp => encode_webp(pixels, orientation),
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

fn unencodable(e: impl std::fmt::Display) -> ImageError {
    ImageError::Unencodable(e.to_string())
}

/// How the samples of one pixel are laid out (8 bits each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    Grey,
    GreyAlpha,
    Rgb,
    Rgba,
}

impl Layout {
    const fn channels(self) -> usize {
        match self {
            Layout::Grey => 1,
            Layout::GreyAlpha => 2,
            Layout::Rgb => 3,
            Layout::Rgba => 4,
        }
    }
}

/// A decoded frame, rows top to bottom as the file stores them.
struct Pixels {
    size: Dimensions,
    layout: Layout,
    data: Vec<u8>,
}

impl Pixels {
    fn pixel(&self, x: u32, y: u32) -> &[u8] {
        let n = self.layout.channels();
        let start = (y as usize * self.size.width as usize + x as usize) * n;
        &self.data[start..start + n]
    }
}

// ---- decoding ----

/// The first frame, every row, then every chunk up to IEND, CRCs checked.
fn decode_png(bytes: &[u8]) -> Result<(Pixels, Orientation), ImageError> {
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    // 8 bits per sample, palettes and tRNS expanded: the four layouts above.
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(undecodable)?;
    let info = reader.info();
    let size = within_bounds(Dimensions {
        width: info.width,
        height: info.height,
    })?;
    let mut data = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut data).map_err(undecodable)?;
    reader.finish().map_err(undecodable)?;
    let layout = match frame.color_type {
        png::ColorType::Grayscale => Layout::Grey,
        png::ColorType::GrayscaleAlpha => Layout::GreyAlpha,
        png::ColorType::Rgb => Layout::Rgb,
        png::ColorType::Rgba => Layout::Rgba,
        png::ColorType::Indexed => return Err(undecodable("palette not expanded")),
    };
    data.truncate(frame.buffer_size());
    let orientation = png_exif(bytes).map_or(Orientation::NORMAL, Orientation::from_exif);
    Ok((Pixels { size, layout, data }, orientation))
}

/// The payload of a PNG's `eXIf` chunk (the `png` crate does not read it).
/// Called on a file that already decoded, so the chunk walk is sound; a
/// short chunk just ends it.
fn png_exif(bytes: &[u8]) -> Option<&[u8]> {
    const SIGNATURE_LEN: usize = 8;
    let mut pos = SIGNATURE_LEN;
    loop {
        let len = u32::from_be_bytes(bytes.get(pos..pos + 4)?.try_into().ok()?) as usize;
        let kind = bytes.get(pos + 4..pos + 8)?;
        let data = bytes.get(pos + 8..(pos + 8).checked_add(len)?)?;
        match kind {
            b"eXIf" => return Some(data),
            b"IEND" => return None,
            // Length, type, data, CRC.
            _ => pos += 12 + len,
        }
    }
}

/// Every scan decoded, strictly: a premature end of the entropy-coded data
/// is an error, not a grey bottom half. Grey JPEGs decode to grey, every
/// other colour space (YCbCr, CMYK, YCCK) to RGB.
fn decode_jpeg(bytes: &[u8]) -> Result<(Pixels, Orientation), ImageError> {
    let jpeg_error = |e: zune_jpeg::errors::DecodeErrors| undecodable(format!("{e:?}"));
    let options = DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(MAX_SIDE as usize)
        .set_max_height(MAX_SIDE as usize);
    let mut headers = zune_jpeg::JpegDecoder::new_with_options(bytes, options);
    headers.decode_headers().map_err(jpeg_error)?;
    let (layout, colorspace) = if headers.get_input_colorspace() == Some(ColorSpace::Luma) {
        (Layout::Grey, ColorSpace::Luma)
    } else {
        (Layout::Rgb, ColorSpace::RGB)
    };
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(
        bytes,
        options.jpeg_set_out_colorspace(colorspace),
    );
    decoder.decode_headers().map_err(jpeg_error)?;
    let (width, height) = decoder
        .dimensions()
        .ok_or_else(|| undecodable("no frame header"))?;
    // A JPEG frame header stores each side in 16 bits.
    let side = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    let size = within_bounds(Dimensions {
        width: side(width),
        height: side(height),
    })?;
    let orientation = decoder
        .exif()
        .map_or(Orientation::NORMAL, |exif| Orientation::from_exif(exif));
    let data = decoder.decode().map_err(jpeg_error)?;
    // The file must end with the end-of-image marker (zero padding after it
    // tolerated; multi-picture files end with their last picture's marker).
    // Anywhere else does not count: a comment segment can hold FF D9, and
    // the decoder is content once the scans are done.
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    if !bytes[..end].ends_with(&[0xFF, 0xD9]) {
        return Err(undecodable("no end-of-image marker"));
    }
    if data.len() != size.width as usize * size.height as usize * layout.channels() {
        return Err(undecodable("decoded frame has the wrong size"));
    }
    Ok((Pixels { size, layout, data }, orientation))
}

/// The (first) frame decoded whole; the RIFF size must fit the file.
fn decode_webp(bytes: &[u8]) -> Result<(Pixels, Orientation), ImageError> {
    let mut decoder = image_webp::WebPDecoder::new(Cursor::new(bytes)).map_err(undecodable)?;
    let (width, height) = decoder.dimensions();
    let size = within_bounds(Dimensions { width, height })?;
    let layout = if decoder.has_alpha() {
        Layout::Rgba
    } else {
        Layout::Rgb
    };
    let len = decoder
        .output_buffer_size()
        .ok_or_else(|| undecodable("image too large"))?;
    let mut data = vec![0u8; len];
    decoder.read_image(&mut data).map_err(undecodable)?;
    // A malformed EXIF chunk beside whole pixels is just no orientation.
    let orientation = match decoder.exif_metadata() {
        Ok(Some(exif)) => Orientation::from_exif(&exif),
        _ => Orientation::NORMAL,
    };
    Ok((Pixels { size, layout, data }, orientation))
}

// ---- orientation ----

/// EXIF orientation (tag 0x0112): how the stored rows must be turned to be
/// seen upright. 1 is as stored; 2–8 are the mirrorings and quarter turns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Orientation(u8);

impl Orientation {
    pub const NORMAL: Orientation = Orientation(1);

    /// The orientation in an EXIF block (a TIFF structure, with or without
    /// the `Exif\0\0` prefix JPEG's APP1 uses); [`Self::NORMAL`] when it
    /// has none or it cannot be read.
    pub fn from_exif(exif: &[u8]) -> Orientation {
        const ORIENTATION_TAG: u16 = 0x0112;
        const SHORT: u16 = 3;
        let tiff = exif.strip_prefix(b"Exif\0\0").unwrap_or(exif);
        let big_endian = match tiff.get(0..2) {
            Some(b"MM") => true,
            Some(b"II") => false,
            _ => return Orientation::NORMAL,
        };
        let u16_at = |at: usize| {
            let b: [u8; 2] = tiff.get(at..at + 2)?.try_into().ok()?;
            Some(if big_endian {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            })
        };
        let u32_at = |at: usize| {
            let b: [u8; 4] = tiff.get(at..at + 4)?.try_into().ok()?;
            Some(if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            })
        };
        let find = || -> Option<u8> {
            if u16_at(2)? != 42 {
                return None;
            }
            let ifd0 = u32_at(4)? as usize;
            let entries = u16_at(ifd0)?;
            (0..usize::from(entries)).find_map(|i| {
                // Each entry: tag, type, count (u32), value (a SHORT sits in
                // the first two bytes of the value field).
                let entry = ifd0 + 2 + 12 * i;
                (u16_at(entry)? == ORIENTATION_TAG && u16_at(entry + 2)? == SHORT)
                    .then(|| u16_at(entry + 8))
                    .flatten()
                    .and_then(|v| u8::try_from(v).ok())
            })
        };
        match find() {
            Some(v @ 1..=8) => Orientation(v),
            _ => Orientation::NORMAL,
        }
    }

    /// Whether width and height trade places (the quarter turns, 5–8).
    fn swaps_sides(self) -> bool {
        self.0 >= 5
    }

    /// The stored pixel shown at `(x, y)` of the upright image, for a
    /// stored image of `size`.
    fn source(self, x: u32, y: u32, size: Dimensions) -> (u32, u32) {
        let (w, h) = (size.width, size.height);
        match self.0 {
            2 => (w - 1 - x, y),
            3 => (w - 1 - x, h - 1 - y),
            4 => (x, h - 1 - y),
            5 => (y, x),
            6 => (y, h - 1 - x),
            7 => (w - 1 - y, h - 1 - x),
            8 => (w - 1 - y, x),
            _ => (x, y),
        }
    }
}

/// A frame as it is seen upright: rows are read through the orientation,
/// so no turned copy is made.
struct Oriented<'a> {
    pixels: &'a Pixels,
    orientation: Orientation,
}

impl Oriented<'_> {
    fn size(&self) -> Dimensions {
        let stored = self.pixels.size;
        if self.orientation.swaps_sides() {
            Dimensions {
                width: stored.height,
                height: stored.width,
            }
        } else {
            stored
        }
    }

    /// The upright pixel at `(x, y)`.
    fn pixel(&self, x: u32, y: u32) -> &[u8] {
        let (sx, sy) = self.orientation.source(x, y, self.pixels.size);
        self.pixels.pixel(sx, sy)
    }

    /// Upright row `y`, appended to `out`.
    fn row_into(&self, y: u32, out: &mut Vec<u8>) {
        let size = self.size();
        if self.orientation == Orientation::NORMAL {
            let len = size.width as usize * self.pixels.layout.channels();
            let start = y as usize * len;
            out.extend_from_slice(&self.pixels.data[start..start + len]);
        } else {
            for x in 0..size.width {
                out.extend_from_slice(self.pixel(x, y));
            }
        }
    }
}

// ---- encoding ----

/// Only IHDR, IDAT and IEND, written row by row.
fn encode_png(view: &Oriented) -> Result<Vec<u8>, ImageError> {
    let size = view.size();
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, size.width, size.height);
    encoder.set_color(match view.pixels.layout {
        Layout::Grey => png::ColorType::Grayscale,
        Layout::GreyAlpha => png::ColorType::GrayscaleAlpha,
        Layout::Rgb => png::ColorType::Rgb,
        Layout::Rgba => png::ColorType::Rgba,
    });
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(unencodable)?;
    let mut stream = writer.stream_writer().map_err(unencodable)?;
    let mut row = Vec::new();
    for y in 0..size.height {
        row.clear();
        view.row_into(y, &mut row);
        stream.write_all(&row).map_err(unencodable)?;
    }
    stream.finish().map_err(unencodable)?;
    writer.finish().map_err(unencodable)?;
    Ok(out)
}

/// Baseline JPEG, no APPn segment but the JFIF header the encoder writes.
fn encode_jpeg(view: &Oriented) -> Result<Vec<u8>, ImageError> {
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, JPEG_QUALITY);
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    encoder.encode_image(view).map_err(unencodable)?;
    Ok(out)
}

/// `jpeg-encoder` pulls the image row by row: each row is converted from
/// the upright view as it is asked for.
impl jpeg_encoder::ImageBuffer for &Oriented<'_> {
    fn get_jpeg_color_type(&self) -> jpeg_encoder::JpegColorType {
        match self.pixels.layout {
            Layout::Grey | Layout::GreyAlpha => jpeg_encoder::JpegColorType::Luma,
            Layout::Rgb | Layout::Rgba => jpeg_encoder::JpegColorType::Ycbcr,
        }
    }

    // Within MAX_SIDE, which is below u16::MAX.
    fn width(&self) -> u16 {
        self.size().width as u16
    }

    fn height(&self) -> u16 {
        self.size().height as u16
    }

    fn fill_buffers(&self, y: u16, buffers: &mut [Vec<u8>; 4]) {
        for x in 0..self.size().width {
            let p = self.pixel(x, u32::from(y));
            match self.pixels.layout {
                Layout::Grey | Layout::GreyAlpha => buffers[0].push(p[0]),
                Layout::Rgb | Layout::Rgba => {
                    let (luma, cb, cr) = jpeg_encoder::rgb_to_ycbcr(p[0], p[1], p[2]);
                    buffers[0].push(luma);
                    buffers[1].push(cb);
                    buffers[2].push(cr);
                }
            }
        }
    }
}

/// Lossless WebP, the simple container: one `VP8L` chunk, no metadata.
/// The encoder takes one buffer (and copies it to RGBA itself), so a
/// turned image is copied upright first and the stored frame freed before
/// encoding: two frames at most, either way.
fn encode_webp(pixels: Pixels, orientation: Orientation) -> Result<Vec<u8>, ImageError> {
    let layout = pixels.layout;
    let (size, data) = if orientation == Orientation::NORMAL {
        (pixels.size, pixels.data)
    } else {
        let view = Oriented {
            pixels: &pixels,
            orientation,
        };
        let mut upright = Vec::with_capacity(pixels.data.len());
        for y in 0..view.size().height {
            view.row_into(y, &mut upright);
        }
        (view.size(), upright)
    };
    let color = match layout {
        Layout::Grey => image_webp::ColorType::L8,
        Layout::GreyAlpha => image_webp::ColorType::La8,
        Layout::Rgb => image_webp::ColorType::Rgb8,
        Layout::Rgba => image_webp::ColorType::Rgba8,
    };
    let mut out = Vec::new();
    image_webp::WebPEncoder::new(&mut out)
        .encode(&data, size.width, size.height, color)
        .map_err(unencodable)?;
    Ok(out)
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

/// Markup and private EXIF values in every carrier (also the API suite's).
#[cfg(test)]
mod corpus;
#[cfg(test)]
mod tests;
