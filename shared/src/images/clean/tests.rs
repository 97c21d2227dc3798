//! The re-encoder: whole images pass and come out clean, broken ones fail,
//! orientation is applied.

use super::corpus::{self, SIDE, contains, jpeg_of, picture, webp_of};
use super::test_images::png_of;
use super::*;

fn kind_of(bytes: &[u8]) -> ImageKind {
    ImageKind::sniff(bytes).expect("a known signature")
}

/// A decoded stored file: its size, layout and samples.
fn decode(kind: ImageKind, bytes: &[u8]) -> Pixels {
    let (pixels, orientation) = match kind {
        ImageKind::Png => decode_png(bytes),
        ImageKind::Jpeg => decode_jpeg(bytes),
        ImageKind::Webp => decode_webp(bytes),
    }
    .expect("a stored file decodes");
    assert_eq!(orientation, Orientation::NORMAL, "no orientation is stored");
    pixels
}

/// Largest difference of one sample (JPEG is lossy).
fn max_difference(a: &[u8], b: &[u8]) -> u8 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

#[test]
fn whole_images_come_out_in_their_format_with_their_pixels() {
    let rgb = picture();
    let side16 = SIDE as u16;
    for (bytes, exact) in [
        (corpus::png_of(&rgb, SIDE, SIDE, |_| {}), true),
        (jpeg_of(&rgb, side16, side16), false),
        (webp_of(&rgb, SIDE, SIDE), true),
    ] {
        let kind = kind_of(&bytes);
        let stored = clean(kind, &bytes).unwrap();
        assert_eq!(ImageKind::sniff(&stored), Some(kind));
        let pixels = decode(kind, &stored);
        assert_eq!(
            pixels.size,
            Dimensions {
                width: SIDE,
                height: SIDE
            }
        );
        assert_eq!(pixels.layout, Layout::Rgb);
        let diff = max_difference(&pixels.data, &rgb);
        if exact {
            assert_eq!(diff, 0, "{kind:?}");
        } else {
            // Twice through JPEG at quality 90, 4:2:0: small, not zero.
            assert!(diff < 48, "{kind:?}: {diff}");
        }
    }
}

#[test]
fn every_carrier_of_the_corpus_comes_out_clean() {
    let needles = corpus::needles();
    assert!(corpus::MARKUP.len() >= 40);
    let rgb = picture();
    for (carrier, file) in corpus::files() {
        // The corpus is really there before cleaning (one needle at least).
        assert!(
            corpus::carries_corpus(&file),
            "{carrier}: corpus not embedded"
        );
        let kind = kind_of(&file);
        let stored = clean(kind, &file).unwrap_or_else(|e| panic!("{carrier}: {e}"));
        for needle in &needles {
            assert!(
                !contains(&stored, needle),
                "{carrier}: {:?} survived",
                String::from_utf8_lossy(needle)
            );
        }
        let pixels = decode(kind, &stored);
        assert_eq!(
            pixels.size,
            Dimensions {
                width: SIDE,
                height: SIDE
            },
            "{carrier}"
        );
        let limit = if kind == ImageKind::Jpeg { 48 } else { 0 };
        assert!(max_difference(&pixels.data, &rgb) <= limit, "{carrier}");
    }
}

#[test]
fn stored_files_have_no_metadata_chunks_or_segments() {
    for (carrier, file) in corpus::files() {
        let kind = kind_of(&file);
        let stored = clean(kind, &file).unwrap();
        match kind {
            ImageKind::Png => {
                let mut pos = 8;
                let mut kinds = Vec::new();
                while pos < stored.len() {
                    let len = u32::from_be_bytes(stored[pos..pos + 4].try_into().unwrap());
                    kinds.push(String::from_utf8_lossy(&stored[pos + 4..pos + 8]).into_owned());
                    pos += 12 + len as usize;
                }
                assert_eq!(pos, stored.len(), "{carrier}: nothing after IEND");
                kinds.dedup();
                assert_eq!(kinds, ["IHDR", "IDAT", "IEND"], "{carrier}");
            }
            ImageKind::Jpeg => {
                // Segments up to the scan: only JFIF's APP0, tables, frame.
                let mut pos = 2;
                loop {
                    let marker = stored[pos + 1];
                    assert!(
                        matches!(marker, 0xE0 | 0xDB | 0xC4 | 0xC0 | 0xDA),
                        "{carrier}: marker {marker:02X}"
                    );
                    if marker == 0xDA {
                        break;
                    }
                    let len = u16::from_be_bytes([stored[pos + 2], stored[pos + 3]]);
                    pos += 2 + len as usize;
                }
                assert!(stored.ends_with(&[0xFF, 0xD9]));
            }
            ImageKind::Webp => {
                assert_eq!(&stored[12..16], b"VP8L", "{carrier}: the simple container");
                let size = u32::from_le_bytes(stored[4..8].try_into().unwrap()) as usize;
                let chunk = u32::from_le_bytes(stored[16..20].try_into().unwrap()) as usize;
                assert_eq!(size + 8, stored.len(), "{carrier}: nothing after RIFF");
                assert_eq!(20 + chunk + chunk % 2, stored.len(), "{carrier}: one chunk");
            }
        }
    }
}

/// A 3×2 image of six distinct colours, and what each orientation shows.
#[test]
fn every_exif_orientation_is_applied_to_the_pixels() {
    // Stored rows: a b c / d e f.
    let colours: [[u8; 3]; 6] = [
        [255, 0, 0],
        [0, 255, 0],
        [0, 0, 255],
        [255, 255, 0],
        [0, 255, 255],
        [255, 0, 255],
    ];
    let (a, b, c, d, e, f) = (0, 1, 2, 3, 4, 5);
    // Upright, row by row, with its width (EXIF's eight cases).
    let upright: [(u32, [usize; 6]); 8] = [
        (3, [a, b, c, d, e, f]),
        (3, [c, b, a, f, e, d]),
        (3, [f, e, d, c, b, a]),
        (3, [d, e, f, a, b, c]),
        (2, [a, d, b, e, c, f]),
        (2, [d, a, e, b, f, c]),
        (2, [f, c, e, b, d, a]),
        (2, [c, f, b, e, a, d]),
    ];
    let rgb: Vec<u8> = colours.iter().flatten().copied().collect();
    let plain_png = corpus::png_of(&rgb, 3, 2, |_| {});
    let plain_webp = webp_of(&rgb, 3, 2);
    for (i, (width, order)) in upright.iter().enumerate() {
        let orientation = i as u16 + 1;
        let exif = corpus::exif(Some(orientation));
        let expected: Vec<u8> = order.iter().flat_map(|&k| colours[k]).collect();
        let png = corpus::png_with_chunk(&plain_png, b"eXIf", &exif);
        let webp = corpus::webp_with_chunks(&plain_webp, 3, 2, &[(b"EXIF", &exif)]);
        for (kind, file) in [(ImageKind::Png, png), (ImageKind::Webp, webp)] {
            let pixels = decode(kind, &clean(kind, &file).unwrap());
            assert_eq!(
                pixels.size,
                Dimensions {
                    width: *width,
                    height: 6 / width
                },
                "{kind:?} orientation {orientation}"
            );
            assert_eq!(pixels.data, expected, "{kind:?} orientation {orientation}");
        }
    }
}

/// JPEG is lossy and subsampled: a 16×8 image, left half red, right half
/// blue, turned by orientation 6 (90° clockwise) is 8×16, red on top.
#[test]
fn a_jpeg_is_turned_by_its_exif_orientation() {
    let rgb: Vec<u8> = (0..16 * 8)
        .flat_map(|i| if i % 16 < 8 { [255, 0, 0] } else { [0, 0, 255] })
        .collect();
    let plain = jpeg_of(&rgb, 16, 8);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&corpus::exif(Some(6)));
    let jpeg = corpus::jpeg_with_segment(&plain, 0xE1, &app1);
    let pixels = decode(ImageKind::Jpeg, &clean(ImageKind::Jpeg, &jpeg).unwrap());
    assert_eq!(
        pixels.size,
        Dimensions {
            width: 8,
            height: 16
        }
    );
    let top = pixels.pixel(4, 3);
    let bottom = pixels.pixel(4, 12);
    assert!(top[0] > 200 && top[2] < 60, "top {top:?}");
    assert!(bottom[2] > 200 && bottom[0] < 60, "bottom {bottom:?}");
}

#[test]
fn orientation_is_read_from_either_byte_order_and_defaults_to_upright() {
    let little_endian = |value: u16| {
        let mut tiff = b"II\x2a\0\x08\0\0\0\x01\0".to_vec();
        tiff.extend_from_slice(&0x0112u16.to_le_bytes());
        tiff.extend_from_slice(&3u16.to_le_bytes());
        tiff.extend_from_slice(&1u32.to_le_bytes());
        tiff.extend_from_slice(&u32::from(value).to_le_bytes());
        tiff.extend_from_slice(&0u32.to_le_bytes());
        tiff
    };
    assert_eq!(Orientation::from_exif(&little_endian(8)), Orientation(8));
    let mut prefixed = b"Exif\0\0".to_vec();
    prefixed.extend_from_slice(&corpus::exif(Some(3)));
    assert_eq!(Orientation::from_exif(&prefixed), Orientation(3));
    for junk in [
        little_endian(0),
        little_endian(9),
        corpus::exif(None),
        b"MM\0\x2a\xff\xff\xff\xff".to_vec(),
        b"not exif".to_vec(),
        Vec::new(),
    ] {
        assert_eq!(
            Orientation::from_exif(&junk),
            Orientation::NORMAL,
            "{junk:?}"
        );
    }
}

#[test]
fn grey_and_transparent_images_keep_their_layout() {
    // A grey PNG, a grey+alpha PNG, a 16-bit RGBA PNG (reduced to 8 bits).
    let grey_alpha: Vec<u8> = (0..8 * 8)
        .flat_map(|i| [i as u8 * 3, 255 - i as u8])
        .collect();
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, 8, 8);
    enc.set_color(png::ColorType::GrayscaleAlpha);
    let mut w = enc.write_header().unwrap();
    w.write_image_data(&grey_alpha).unwrap();
    w.finish().unwrap();
    let pixels = decode(ImageKind::Png, &clean(ImageKind::Png, &out).unwrap());
    assert_eq!(
        (pixels.layout, pixels.data),
        (Layout::GreyAlpha, grey_alpha)
    );

    let rgba16: Vec<u8> = (0..4 * 4 * 4).flat_map(|i| [i as u8 * 4, 0x80]).collect();
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, 4, 4);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Sixteen);
    let mut w = enc.write_header().unwrap();
    w.write_image_data(&rgba16).unwrap();
    w.finish().unwrap();
    let pixels = decode(ImageKind::Png, &clean(ImageKind::Png, &out).unwrap());
    let high_bytes: Vec<u8> = rgba16.iter().step_by(2).copied().collect();
    assert_eq!((pixels.layout, pixels.data), (Layout::Rgba, high_bytes));

    // A grey JPEG stays grey (one component).
    let grey: Vec<u8> = (0..16 * 16).map(|i| i as u8).collect();
    let mut jpeg = Vec::new();
    jpeg_encoder::Encoder::new(&mut jpeg, 90)
        .encode(&grey, 16, 16, jpeg_encoder::ColorType::Luma)
        .unwrap();
    let pixels = decode(ImageKind::Jpeg, &clean(ImageKind::Jpeg, &jpeg).unwrap());
    assert_eq!(pixels.layout, Layout::Grey);

    // A WebP with alpha keeps it.
    let rgba: Vec<u8> = (0..8 * 8)
        .flat_map(|i| [i as u8, 9, 200, i as u8 * 4])
        .collect();
    let mut webp = Vec::new();
    image_webp::WebPEncoder::new(&mut webp)
        .encode(&rgba, 8, 8, image_webp::ColorType::Rgba8)
        .unwrap();
    let pixels = decode(ImageKind::Webp, &clean(ImageKind::Webp, &webp).unwrap());
    assert_eq!((pixels.layout, pixels.data), (Layout::Rgba, rgba));
}

#[test]
fn bare_signatures_and_truncated_files_fail() {
    let bare: [&[u8]; 3] = [
        &[0xFF, 0xD8, 0xFF],
        &[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A],
        b"RIFF\x04\0\0\0WEBP",
    ];
    for b in bare {
        let err = clean(kind_of(b), b).unwrap_err();
        assert!(matches!(err, ImageError::Undecodable(_)), "{b:?}: {err:?}");
    }
    let rgb: Vec<u8> = (0..64 * 48 * 3).map(|i| (i * 13 % 253) as u8).collect();
    for whole in [png_of(64, 48), jpeg_of(&rgb, 64, 48), webp_of(&rgb, 64, 48)] {
        let kind = kind_of(&whole);
        for cut in [whole.len() / 2, whole.len() - 2, 20] {
            let err = clean(kind, &whole[..cut]);
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
        clean(ImageKind::Png, &png),
        Err(ImageError::Undecodable(_))
    ));
}

#[test]
fn a_jpeg_must_end_with_its_end_of_image_marker() {
    let jpeg = jpeg_of(&picture(), 16, 16);
    // A comment segment holding FF D9 must not stand in for the real one.
    let commented = corpus::jpeg_with_segment(&jpeg, 0xFE, &[b'x', 0xFF, 0xD9, b'y']);
    assert!(clean(ImageKind::Jpeg, &commented).is_ok());
    let truncated = &commented[..commented.len() - 2];
    assert!(matches!(
        clean(ImageKind::Jpeg, truncated),
        Err(ImageError::Undecodable(_))
    ));
    // Zero padding after the marker is tolerated.
    let mut padded = jpeg.clone();
    padded.extend_from_slice(&[0; 16]);
    assert!(clean(ImageKind::Jpeg, &padded).is_ok());
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
        clean(ImageKind::Png, &huge),
        Err(ImageError::Dimensions(Dimensions {
            width: 20_000,
            height: 20_000
        }))
    ));
}
