//! End-to-end: what a client hides in an image never reaches the image
//! store. Every file of the shared corpus (markup in each place a format
//! has for text, a camera's GPS position and serial in EXIF and XMP) is
//! uploaded as a house photo and as an avatar through the real host; each
//! is accepted as a picture, and neither the files served back nor any file
//! under the app's state dir (fdfs-proxy's store included) holds a byte of
//! it. EXIF orientation is applied before the tag is dropped.

use ihome_tests::{TestApp, spawn_app};

use crate::images::{file_id, publish_house, upload_avatar, upload_house_image};

/// The corpus `shared`'s unit tests clean too.
#[allow(dead_code)]
#[path = "../../../shared/src/images/clean/corpus.rs"]
mod corpus;

/// The served bytes and content type of an image URL.
fn fetch(app: &TestApp, url: &str) -> (Vec<u8>, String) {
    let resp = app.client().get(&app.url(url));
    assert_eq!(resp.status, 200, "GET {url}");
    let content_type = resp.header("content-type").unwrap_or("").to_string();
    (resp.body, content_type)
}

/// Width and height of a stored image, read by the format's decoder (a
/// JPEG's from its frame header).
fn dimensions(bytes: &[u8], content_type: &str) -> (u32, u32) {
    match content_type {
        "image/png" => {
            let reader = png::Decoder::new(std::io::Cursor::new(bytes))
                .read_info()
                .unwrap();
            (reader.info().width, reader.info().height)
        }
        "image/webp" => image_webp::WebPDecoder::new(std::io::Cursor::new(bytes))
            .unwrap()
            .dimensions(),
        "image/jpeg" => {
            // Segments after SOI up to the baseline frame header (SOF0).
            let mut pos = 2;
            loop {
                let (marker, len) = (
                    bytes[pos + 1],
                    u16::from_be_bytes([bytes[pos + 2], bytes[pos + 3]]),
                );
                if marker == 0xC0 {
                    let height = u16::from_be_bytes([bytes[pos + 5], bytes[pos + 6]]);
                    let width = u16::from_be_bytes([bytes[pos + 7], bytes[pos + 8]]);
                    return (u32::from(width), u32::from(height));
                }
                pos += 2 + usize::from(len);
            }
        }
        other => panic!("unexpected content type {other}"),
    }
}

/// RGB samples of a stored lossless image (PNG or WebP).
fn rgb(bytes: &[u8], content_type: &str) -> Vec<u8> {
    match content_type {
        "image/png" => {
            let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
                .read_info()
                .unwrap();
            let mut data = vec![0; reader.output_buffer_size()];
            let frame = reader.next_frame(&mut data).unwrap();
            assert_eq!(frame.color_type, png::ColorType::Rgb);
            data.truncate(frame.buffer_size());
            data
        }
        "image/webp" => {
            let mut decoder = image_webp::WebPDecoder::new(std::io::Cursor::new(bytes)).unwrap();
            assert!(!decoder.has_alpha());
            let mut data = vec![0; decoder.output_buffer_size().unwrap()];
            decoder.read_image(&mut data).unwrap();
            data
        }
        other => panic!("not lossless: {other}"),
    }
}

/// Checks that `served` is `uploaded`'s picture: the same format and size;
/// for PNG and WebP (stored losslessly) the same pixels; a JPEG (encoded
/// again, so not bit-exact) must decode whole with the app's own decoder.
#[track_caller]
pub(crate) fn assert_same_picture(url: &str, served: &[u8], uploaded: &[u8], content_type: &str) {
    let kind = ihome_shared::images::ImageKind::sniff(served);
    assert_eq!(kind.map(|k| k.content_type()), Some(content_type), "{url}");
    assert_eq!(
        dimensions(served, content_type),
        dimensions(uploaded, content_type),
        "{url}"
    );
    if content_type == "image/jpeg" {
        assert!(
            ihome_shared::images::upload::check_image(served).is_ok(),
            "{url}"
        );
    } else {
        assert!(
            rgb(served, content_type) == rgb(uploaded, content_type),
            "{url}: pixels differ"
        );
    }
}

/// Every file under `dir`, recursively: (path, bytes).
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
    out
}

#[track_caller]
fn assert_clean(what: &str, bytes: &[u8], needles: &[Vec<u8>]) {
    for needle in needles {
        assert!(
            !corpus::contains(bytes, needle),
            "{what}: {:?} survived",
            String::from_utf8_lossy(needle)
        );
    }
}

#[test]
fn every_corpus_file_is_accepted_and_stored_without_its_metadata() {
    // The embedded store: its files are under the state dir, read below.
    let app = spawn_app();
    let owner = app.register_verified();
    let house_id = publish_house(&app, &owner);
    let needles = corpus::needles();
    assert!(corpus::MARKUP.len() >= 40, "a corpus of 40+ variants");
    let picture = corpus::picture();
    let files = corpus::files();
    let mut served = 0;
    for (carrier, file) in &files {
        assert!(
            corpus::carries_corpus(file),
            "{carrier}: the corpus is in the upload"
        );
        let expected_type = match ihome_shared::images::ImageKind::sniff(file) {
            Some(kind) => kind.content_type(),
            None => panic!("{carrier}: not an image"),
        };
        let urls = [
            upload_house_image(&app, &owner, house_id, file.clone()),
            upload_avatar(&app, &owner, "photo.jpg", file.clone()),
        ];
        for url in &urls {
            let (bytes, content_type) = fetch(&app, url);
            let what = format!("{carrier} at {url}");
            assert_eq!(content_type, expected_type, "{what}");
            let ext = expected_type
                .strip_prefix("image/")
                .unwrap()
                .replace("jpeg", "jpg");
            assert!(file_id(url).ends_with(&format!(".{ext}")), "{what}");
            assert_clean(&what, &bytes, &needles);
            assert_eq!(
                dimensions(&bytes, &content_type),
                (corpus::SIDE, corpus::SIDE),
                "{what}"
            );
            if content_type != "image/jpeg" {
                assert_eq!(
                    rgb(&bytes, &content_type),
                    picture,
                    "{what}: the picture itself"
                );
            }
            served += 1;
        }
    }
    assert_eq!(served, 2 * files.len());

    // Nothing of it anywhere the app keeps data: the image store's files,
    // its spool, the databases.
    let stored = files_under(app.state_dir.path());
    let images = stored
        .iter()
        .filter(|(path, _)| {
            path.extension()
                .is_some_and(|e| e == "jpg" || e == "png" || e == "webp")
        })
        .count();
    // The house's photos and the current avatar.
    assert!(
        images > files.len(),
        "{images} image files under the state dir"
    );
    for (path, bytes) in &stored {
        assert_clean(&path.display().to_string(), bytes, &needles);
    }
}

/// Red left, blue right, stored sideways with EXIF orientation 6 ("turn
/// 90° clockwise to view"): shown upright it is red on top, blue below.
#[test]
fn exif_orientation_is_applied_then_dropped() {
    let app = spawn_app();
    let owner = app.register_verified();
    let house_id = publish_house(&app, &owner);
    let exif = corpus::exif(Some(6));
    let (red, blue) = ([255u8, 0, 0], [0u8, 0, 255]);
    let two_by_one: Vec<u8> = [red, blue].concat();
    let png = corpus::png_with_chunk(&corpus::png_of(&two_by_one, 2, 1, |_| {}), b"eXIf", &exif);
    let webp = corpus::webp_with_chunks(
        &corpus::webp_of(&two_by_one, 2, 1),
        2,
        1,
        &[(b"EXIF", &exif)],
    );
    for (format, file) in [("PNG", png), ("WebP", webp)] {
        let url = upload_house_image(&app, &owner, house_id, file);
        let (bytes, content_type) = fetch(&app, &url);
        assert_eq!(dimensions(&bytes, &content_type), (1, 2), "{format}");
        assert_eq!(
            rgb(&bytes, &content_type),
            [red, blue].concat(),
            "{format}: red on top"
        );
        assert_clean(format, &bytes, &corpus::needles());
    }
    // A camera's JPEG (lossy, so blocks of colour): 16×8 becomes 8×16.
    let halves: Vec<u8> = (0..16 * 8)
        .flat_map(|i| if i % 16 < 8 { red } else { blue })
        .collect();
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&exif);
    let jpeg = corpus::jpeg_with_segment(&corpus::jpeg_of(&halves, 16, 8), 0xE1, &app1);
    let url = upload_avatar(&app, &owner, "camera.jpg", jpeg);
    let (bytes, content_type) = fetch(&app, &url);
    assert_eq!(content_type, "image/jpeg");
    assert_eq!(dimensions(&bytes, &content_type), (8, 16));
    assert_clean("JPEG", &bytes, &corpus::needles());
}
