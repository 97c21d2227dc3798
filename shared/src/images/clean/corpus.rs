//! What a client may hide in an image, and every place each format has to
//! hide it: markup variants, and the private values of a camera's EXIF (GPS
//! position, serial number), embedded in tiny valid images. Built in code,
//! no binary blobs. Shared by `images::clean`'s unit tests and the API suite
//! (`tests/tests/api/image_clean.rs` includes this file), so both check the
//! same corpus.
//!
//! # Layout
//! - [`MARKUP`], [`needles`]: the variants, and every byte string that must
//!   not survive in a stored file.
//! - [`files`]: one file per carrier, each holding the whole corpus.
//! - [`exif`]: a TIFF/EXIF block with GPS, serial, description and an
//!   optional orientation; [`png_with_chunk`], [`jpeg_with_segment`],
//!   [`webp_with_chunks`]: carriers for it and for the orientation tests.

/// Markup that browsers (or a CDN that sniffs) would run or load.
pub const MARKUP: &[&str] = &[
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "< script>alert(2)</script>",
    "<script\t>alert(3)</script>",
    "<scr<script>ipt>alert(4)</script>",
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=\"javascript:alert('XSS');\">",
    "<svg onload=alert(1)>",
    "<svg/onload=alert(2)>",
    "<svg><script>alert(5)</script></svg>",
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
    "<iframe src=\"javascript:alert(1)\"></iframe>",
    "<iframe srcdoc=\"&lt;script&gt;alert(1)&lt;/script&gt;\">",
    "<a href=\"javascript:alert(1)\">x</a>",
    "<a href=\"jav&#x09;ascript:alert(2)\">x</a>",
    "<base href=\"//evil.example/\">",
    "<link rel=stylesheet href=//evil.example/x.css>",
    "<link rel=import href=//evil.example/x.html>",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
    "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-7\">",
    "+ADw-script+AD4-alert(6)+ADw-/script+AD4-",
    "<video><source onerror=alert(1)></video>",
    "<video src=x onerror=alert(2)>",
    "<audio src=x onerror=alert(3)>",
    "<details open ontoggle=alert(1)>",
    "<body onload=alert(1)>",
    "<body onpageshow=alert(2)>",
    "<object data=\"javascript:alert(1)\">",
    "<embed src=\"javascript:alert(2)\">",
    "<form action=\"javascript:alert(3)\"><input type=submit>",
    "<input autofocus onfocus=alert(1)>",
    "<marquee onstart=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(7)>",
    "<style>@import'//evil.example/x.css';</style>",
    "<div style=\"background:url(javascript:alert(8))\">",
    "<!DOCTYPE html><html><body>",
    "<html xmlns=\"http://www.w3.org/1999/xhtml\">",
    "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>",
    "<x:script xmlns:x=\"http://www.w3.org/1999/xhtml\">alert(9)</x:script>",
    "<!--<img src=\"--><img src=x onerror=alert(10)//\">",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(11)>\">",
    "<template><script>alert(12)</script></template>",
    "<isindex type=image src=1 onerror=alert(13)>",
    "javascript:alert(document.cookie)",
    "%3Cscript%3Ealert(14)%3C/script%3E",
];

/// Variants also sent as UTF-16 (a page sniffed as UTF-16 runs them).
const UTF16_MARKUP: &[&str] = &[
    "<script>alert(15)</script>",
    "<img src=x onerror=alert(16)>",
    "<svg onload=alert(17)>",
];

/// The camera's serial number (EXIF BodySerialNumber, XMP aux:SerialNumber).
pub const CAMERA_SERIAL: &str = "IHOME-CAM-SN-7731-0042";
/// Where the photo was taken: 39°54'27.12"N 116°23'50.4"E, as EXIF
/// rationals (numerator, denominator) of degrees, minutes, seconds.
pub const GPS_LATITUDE: [(u32, u32); 3] = [(39, 1), (54, 1), (2712, 100)];
pub const GPS_LONGITUDE: [(u32, u32); 3] = [(116, 1), (23, 1), (504, 10)];
/// The same position as XMP writes it.
pub const XMP_GPS: &str = "39,54.452N";

/// The UTF-16 variants, little-endian with a byte-order mark and big-endian
/// without.
fn utf16_payloads() -> Vec<Vec<u8>> {
    UTF16_MARKUP
        .iter()
        .flat_map(|m| {
            let units: Vec<u16> = m.encode_utf16().collect();
            let mut le = vec![0xFF, 0xFE];
            le.extend(units.iter().flat_map(|u| u.to_le_bytes()));
            let be: Vec<u8> = units.iter().flat_map(|u| u.to_be_bytes()).collect();
            [le, be]
        })
        .collect()
}

/// The big-endian bytes EXIF stores three rationals as.
fn rationals(values: [(u32, u32); 3]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|(n, d)| [n.to_be_bytes(), d.to_be_bytes()])
        .flatten()
        .collect()
}

/// Every byte string that must not appear in a stored file.
pub fn needles() -> Vec<Vec<u8>> {
    let mut needles: Vec<Vec<u8>> = MARKUP.iter().map(|m| m.as_bytes().to_vec()).collect();
    // Without their byte-order mark, so a BOM-less copy counts too.
    needles.extend(utf16_payloads().into_iter().map(|p| {
        p.strip_prefix(&[0xFF, 0xFE][..])
            .map_or(p.clone(), <[u8]>::to_vec)
    }));
    needles.push(CAMERA_SERIAL.as_bytes().to_vec());
    needles.push(XMP_GPS.as_bytes().to_vec());
    needles.push(rationals(GPS_LATITUDE));
    needles.push(rationals(GPS_LONGITUDE));
    needles
}

/// Every markup variant on its own line (for carriers with one block).
fn all_markup() -> String {
    MARKUP.join("\n")
}

/// Width and height of the corpus images.
pub const SIDE: u32 = 16;

/// The picture every corpus file shows: a colour gradient, RGB.
pub fn picture() -> Vec<u8> {
    (0..SIDE * SIDE)
        .flat_map(|i| {
            let (x, y) = (i % SIDE, i / SIDE);
            [(x * 16) as u8, (y * 16) as u8, (255 - x * 8 - y * 8) as u8]
        })
        .collect()
}

/// An EXIF block (big-endian TIFF, without JPEG's `Exif\0\0`): IFD0 with
/// ImageDescription (all markup), the orientation when given, and pointers
/// to an Exif IFD (BodySerialNumber) and a GPS IFD (latitude, longitude).
pub fn exif(orientation: Option<u16>) -> Vec<u8> {
    const ASCII: u16 = 2;
    const SHORT: u16 = 3;
    const LONG: u16 = 4;
    const RATIONAL: u16 = 5;
    let mut description = all_markup().into_bytes();
    description.push(0);
    let mut serial = CAMERA_SERIAL.as_bytes().to_vec();
    serial.push(0);
    let (lat, lon) = (rationals(GPS_LATITUDE), rationals(GPS_LONGITUDE));

    let ifd_size = |entries: usize| 2 + 12 * entries + 4;
    let ifd0_entries = 3 + usize::from(orientation.is_some());
    let ifd0 = 8;
    let exif_ifd = ifd0 + ifd_size(ifd0_entries);
    let gps_ifd = exif_ifd + ifd_size(1);
    let data = gps_ifd + ifd_size(4);
    let description_at = data;
    let serial_at = description_at + description.len();
    let lat_at = serial_at + serial.len();
    let lon_at = lat_at + lat.len();

    let mut out = b"MM\0\x2a".to_vec();
    out.extend_from_slice(&(ifd0 as u32).to_be_bytes());
    let entry = |out: &mut Vec<u8>, tag: u16, ty: u16, count: usize, value: u32| {
        out.extend_from_slice(&tag.to_be_bytes());
        out.extend_from_slice(&ty.to_be_bytes());
        out.extend_from_slice(&(count as u32).to_be_bytes());
        out.extend_from_slice(&value.to_be_bytes());
    };
    // IFD0, tags in ascending order.
    out.extend_from_slice(&(ifd0_entries as u16).to_be_bytes());
    entry(
        &mut out,
        0x010E,
        ASCII,
        description.len(),
        description_at as u32,
    );
    if let Some(o) = orientation {
        entry(&mut out, 0x0112, SHORT, 1, u32::from(o) << 16);
    }
    entry(&mut out, 0x8769, LONG, 1, exif_ifd as u32);
    entry(&mut out, 0x8825, LONG, 1, gps_ifd as u32);
    out.extend_from_slice(&0u32.to_be_bytes());
    // Exif IFD: BodySerialNumber.
    out.extend_from_slice(&1u16.to_be_bytes());
    entry(&mut out, 0xA431, ASCII, serial.len(), serial_at as u32);
    out.extend_from_slice(&0u32.to_be_bytes());
    // GPS IFD: references inline ("N\0", "E\0"), rationals in the data.
    out.extend_from_slice(&4u16.to_be_bytes());
    entry(&mut out, 1, ASCII, 2, u32::from_be_bytes(*b"N\0\0\0"));
    entry(&mut out, 2, RATIONAL, 3, lat_at as u32);
    entry(&mut out, 3, ASCII, 2, u32::from_be_bytes(*b"E\0\0\0"));
    entry(&mut out, 4, RATIONAL, 3, lon_at as u32);
    out.extend_from_slice(&0u32.to_be_bytes());
    assert_eq!(out.len(), data);
    out.extend_from_slice(&description);
    out.extend_from_slice(&serial);
    out.extend_from_slice(&lat);
    out.extend_from_slice(&lon);
    out
}

/// An XMP packet with the markup, the serial and the position.
fn xmp() -> String {
    format!(
        "<?xpacket begin=\"\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\
         <x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF \
         xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\
         <rdf:Description xmlns:aux=\"http://ns.adobe.com/exif/1.0/aux/\" \
         xmlns:exif=\"http://ns.adobe.com/exif/1.0/\" aux:SerialNumber=\"{CAMERA_SERIAL}\" \
         exif:GPSLatitude=\"{XMP_GPS}\"><dc:description>{}</dc:description>\
         </rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end=\"w\"?>",
        all_markup()
    )
}

/// A PNG of `rgb` (`width`×`height`), with text chunks added by `texts`.
pub fn png_of(
    rgb: &[u8],
    width: u32,
    height: u32,
    texts: impl FnOnce(&mut png::Encoder<&mut Vec<u8>>),
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    texts(&mut encoder);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(rgb).unwrap();
    writer.finish().unwrap();
    out
}

/// `png` with a chunk of `kind` inserted right after IHDR (where `eXIf`
/// belongs: before the image data).
pub fn png_with_chunk(png: &[u8], kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    const AFTER_IHDR: usize = 8 + 12 + 13;
    let mut chunk = kind.to_vec();
    chunk.extend_from_slice(data);
    let mut out = png[..AFTER_IHDR].to_vec();
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&crc32fast::hash(&chunk).to_be_bytes());
    out.extend_from_slice(&png[AFTER_IHDR..]);
    out
}

/// A baseline JPEG of `rgb` at quality 90.
pub fn jpeg_of(rgb: &[u8], width: u16, height: u16) -> Vec<u8> {
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 90)
        .encode(rgb, width, height, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    out
}

/// `jpeg` with a segment (`FF marker`, length, data) right after SOI.
pub fn jpeg_with_segment(jpeg: &[u8], marker: u8, data: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&u16::try_from(data.len() + 2).unwrap().to_be_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A lossless WebP of `rgb` in the simple container (one `VP8L` chunk).
pub fn webp_of(rgb: &[u8], width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    image_webp::WebPEncoder::new(&mut out)
        .encode(rgb, width, height, image_webp::ColorType::Rgb8)
        .unwrap();
    out
}

/// `simple` (a simple-container WebP of `width`×`height`) rewritten in the
/// extended container (`VP8X`) with `chunks` after the image data; the
/// EXIF and XMP flags are set when such chunks are present.
pub fn webp_with_chunks(
    simple: &[u8],
    width: u32,
    height: u32,
    chunks: &[(&[u8; 4], &[u8])],
) -> Vec<u8> {
    const EXIF_FLAG: u8 = 0x08;
    const XMP_FLAG: u8 = 0x04;
    let chunk = |out: &mut Vec<u8>, kind: &[u8], data: &[u8]| {
        out.extend_from_slice(kind);
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(0);
        }
    };
    let mut flags = 0;
    for (kind, _) in chunks {
        match *kind {
            b"EXIF" => flags |= EXIF_FLAG,
            b"XMP " => flags |= XMP_FLAG,
            _ => {}
        }
    }
    let mut vp8x = vec![flags, 0, 0, 0];
    vp8x.extend_from_slice(&(width - 1).to_le_bytes()[..3]);
    vp8x.extend_from_slice(&(height - 1).to_le_bytes()[..3]);
    let mut body = b"WEBP".to_vec();
    chunk(&mut body, b"VP8X", &vp8x);
    // The simple file's chunks (its VP8L), as they are.
    body.extend_from_slice(&simple[12..]);
    for (kind, data) in chunks {
        chunk(&mut body, &kind[..], data);
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// One file per carrier, each a valid [`SIDE`]² image of [`picture`]
/// holding the whole corpus there: `(carrier, file)`.
pub fn files() -> Vec<(&'static str, Vec<u8>)> {
    let rgb = picture();
    let utf16 = utf16_payloads();
    let exif = exif(None);
    let xmp = xmp();
    let plain_png = png_of(&rgb, SIDE, SIDE, |_| {});
    let side16 = SIDE as u16;
    let plain_jpeg = jpeg_of(&rgb, side16, side16);
    let plain_webp = webp_of(&rgb, SIDE, SIDE);

    let png_texts = |add: fn(&mut png::Encoder<&mut Vec<u8>>, String, String)| {
        png_of(&rgb, SIDE, SIDE, |e| {
            for (i, m) in MARKUP.iter().enumerate() {
                add(e, format!("Comment{i}"), m.to_string());
            }
            add(e, "XML:com.adobe.xmp".into(), xmp.clone());
        })
    };
    let png_text = png_texts(|e, k, t| e.add_text_chunk(k, t).unwrap());
    let png_ztxt = png_texts(|e, k, t| e.add_ztxt_chunk(k, t).unwrap());
    let png_itxt = png_texts(|e, k, t| e.add_itxt_chunk(k, t).unwrap());
    let png_exif = png_with_chunk(&plain_png, b"eXIf", &exif);
    let mut private = all_markup().into_bytes();
    for p in &utf16 {
        private.extend_from_slice(p);
    }
    let png_private = png_with_chunk(&plain_png, b"htMl", &private);
    let mut png_trailing = plain_png.clone();
    png_trailing.extend_from_slice(all_markup().as_bytes());

    let mut jpeg_com = plain_jpeg.clone();
    for m in MARKUP
        .iter()
        .map(|m| m.as_bytes().to_vec())
        .chain(utf16.clone())
    {
        jpeg_com = jpeg_with_segment(&jpeg_com, 0xFE, &m);
    }
    let mut app1_exif = b"Exif\0\0".to_vec();
    app1_exif.extend_from_slice(&exif);
    let jpeg_exif = jpeg_with_segment(&plain_jpeg, 0xE1, &app1_exif);
    let mut app1_xmp = b"http://ns.adobe.com/xap/1.0/\0".to_vec();
    app1_xmp.extend_from_slice(xmp.as_bytes());
    let jpeg_xmp = jpeg_with_segment(&plain_jpeg, 0xE1, &app1_xmp);
    let mut jpeg_appn = plain_jpeg.clone();
    for marker in [0xE2, 0xE3, 0xEC, 0xED, 0xEF] {
        let mut data = match marker {
            0xE2 => b"ICC_PROFILE\0\x01\x01".to_vec(),
            0xED => b"Photoshop 3.0\0".to_vec(),
            _ => Vec::new(),
        };
        data.extend_from_slice(all_markup().as_bytes());
        jpeg_appn = jpeg_with_segment(&jpeg_appn, marker, &data);
    }

    let webp_exif = webp_with_chunks(&plain_webp, SIDE, SIDE, &[(b"EXIF", &exif)]);
    let webp_xmp = webp_with_chunks(&plain_webp, SIDE, SIDE, &[(b"XMP ", xmp.as_bytes())]);
    let mut webp_unknown = webp_with_chunks(&plain_webp, SIDE, SIDE, &[(b"HTML", &private)]);
    webp_unknown.extend_from_slice(all_markup().as_bytes());

    vec![
        ("PNG tEXt", png_text),
        ("PNG zTXt", png_ztxt),
        ("PNG iTXt", png_itxt),
        ("PNG eXIf", png_exif),
        ("PNG private chunk", png_private),
        ("PNG after IEND", png_trailing),
        ("JPEG COM", jpeg_com),
        ("JPEG APP1 EXIF", jpeg_exif),
        ("JPEG APP1 XMP", jpeg_xmp),
        ("JPEG APP2/3/12/13/15", jpeg_appn),
        ("WebP EXIF", webp_exif),
        ("WebP XMP", webp_xmp),
        ("WebP unknown chunk and after RIFF", webp_unknown),
    ]
}

/// Whether `haystack` contains `needle`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Whether `file` visibly carries the corpus: a needle in its bytes, or
/// (zTXt compresses its text) a `zTXt` chunk.
pub fn carries_corpus(file: &[u8]) -> bool {
    needles().iter().any(|n| contains(file, n)) || contains(file, b"zTXt")
}
