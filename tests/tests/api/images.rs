//! End-to-end tests: images. Uploads through the real edge-host into the real
//! fdfs-proxy, read back through `/images/...`. The proxy stands in front of a
//! real FastDFS cluster of each test's own when a FastDFS build is available
//! ([`spawn_app_on_fastdfs`]), else in front of its embedded store.

use ihome_tests::{TestApp, TestUser, concurrently, json, spawn_app};
use rand::RngCore;

/// The app, with fdfs-proxy on a real FastDFS cluster when one can be
/// started (`IHOME_FASTDFS_PREFIX`; scripts/test sets it), else on its
/// embedded store.
pub(crate) fn spawn_app_on_fastdfs() -> TestApp {
    ihome_tests::spawn_app_with(ihome_tests::AppOptions {
        real_fastdfs: true,
        ..Default::default()
    })
}

/// The API's image size limit (openapi.yaml, "Images").
const MAX_IMAGE_BYTES: usize = 10 * 1024 * 1024;

/// `len` bytes starting with `magic`, the rest random (so no two are alike).
fn file_with(magic: &[u8], len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len.max(magic.len())];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes[..magic.len()].copy_from_slice(magic);
    bytes
}

/// Random bytes, for pixels and padding.
fn noise(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

/// A valid 16×16 JPEG of random pixels, padded with comment segments to
/// exactly `len` bytes (or its natural size when that is larger), so no two
/// are alike and sizes can sit exactly at the limit.
pub(crate) fn jpeg(len: usize) -> Vec<u8> {
    let mut base = Vec::new();
    jpeg_encoder::Encoder::new(&mut base, 90)
        .encode(&noise(16 * 16 * 3), 16, 16, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    // COM segments (FF FE, 2-byte length, up to 65,533 data bytes) after SOI.
    let pad = len.saturating_sub(base.len());
    let mut out = base[..2].to_vec();
    if pad > 0 {
        assert!(
            pad >= 4,
            "a JPEG segment needs 4 bytes; pick another length"
        );
        let segments = pad.div_ceil(65_537);
        for i in 0..segments {
            let size = pad / segments + usize::from(i < pad % segments);
            out.extend_from_slice(&[0xFF, 0xFE]);
            out.extend_from_slice(&((size - 2) as u16).to_be_bytes());
            out.extend_from_slice(&noise(size - 4));
        }
    }
    out.extend_from_slice(&base[2..]);
    assert_eq!(out.len(), len.max(base.len()));
    out
}

/// A valid 16×16 PNG of random pixels, padded with a private chunk (which
/// decoders skip) to exactly `len` bytes, or its natural size when larger.
pub(crate) fn png(len: usize) -> Vec<u8> {
    let mut base = Vec::new();
    let mut enc = png::Encoder::new(&mut base, 16, 16);
    enc.set_color(png::ColorType::Rgb);
    let mut writer = enc.write_header().unwrap();
    writer.write_image_data(&noise(16 * 16 * 3)).unwrap();
    writer.finish().unwrap();
    if len <= base.len() {
        return base;
    }
    let pad = len - base.len();
    assert!(pad >= 12, "a PNG chunk needs 12 bytes; pick another length");
    let mut chunk = b"prVt".to_vec();
    chunk.extend_from_slice(&noise(pad - 12));
    let iend = base.len() - 12;
    let mut out = base[..iend].to_vec();
    out.extend_from_slice(&((pad - 12) as u32).to_be_bytes());
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&crc32fast::hash(&chunk).to_be_bytes());
    out.extend_from_slice(&base[iend..]);
    assert_eq!(out.len(), len);
    out
}

/// A valid lossless WebP of random pixels, about `len` bytes (random pixels
/// don't compress, so a square of `len / 3` pixels).
fn webp(len: usize) -> Vec<u8> {
    let side = ((len / 3) as f64).sqrt().max(1.0) as u32;
    let mut out = Vec::new();
    image_webp::WebPEncoder::new(&mut out)
        .encode(
            &noise((side * side * 3) as usize),
            side,
            side,
            image_webp::ColorType::Rgb8,
        )
        .unwrap();
    out
}

/// The stored file id behind an image URL from the API (`/images/<id>`).
pub(crate) fn file_id(url: &str) -> &str {
    url.strip_prefix("/images/")
        .unwrap_or_else(|| panic!("not an /images/ URL: {url:?}"))
}

pub(crate) fn upload_avatar(app: &TestApp, user: &TestUser, name: &str, bytes: Vec<u8>) -> String {
    let resp = user
        .client
        .post_multipart(&app.api("/user/avatar"), "avatar", name, bytes);
    assert_eq!(resp.errno(), "0", "avatar upload: {}", resp.text());
    resp.data()["avatar_url"]
        .as_str()
        .expect("avatar_url")
        .to_string()
}

pub(crate) fn upload_house_image(
    app: &TestApp,
    user: &TestUser,
    house_id: i64,
    bytes: Vec<u8>,
) -> String {
    let resp = user.client.post_multipart(
        &app.api(&format!("/houses/{house_id}/images")),
        "house_image",
        "photo.jpg",
        bytes,
    );
    assert_eq!(resp.errno(), "0", "house image upload: {}", resp.text());
    resp.data()["url"].as_str().expect("url").to_string()
}

/// Publishes a house through the API for a real-name verified `owner`.
pub(crate) fn publish_house(app: &TestApp, owner: &TestUser) -> i64 {
    let resp = owner.client.post_json(
        &app.api("/houses"),
        &json!({
            "title": "湖景两居", "price": "388", "area_id": 4, "address": "海淀区颐和园路 5 号",
            "room_count": 2, "acreage": 80, "unit": "两室一厅", "capacity": 4,
            "beds": "双人床 2 张", "deposit": "500", "min_days": 1, "max_days": 0,
            "facility": [1, 2, 3]
        }),
    );
    assert_eq!(resp.errno(), "0", "publish: {}", resp.text());
    resp.data()["house_id"].as_i64().expect("house_id")
}

/// Reads an image back and checks it is `uploaded`'s picture as the app
/// stores it (re-encoded from its pixels: `shared/src/images/clean.rs`), served whole
/// with caching headers.
#[track_caller]
fn assert_serves(app: &TestApp, url: &str, uploaded: &[u8], content_type: &str) {
    let resp = app.client().get(&app.url(url));
    assert_eq!(resp.status, 200, "GET {url}: {}", resp.status);
    let expected = &resp.body;
    crate::image_clean::assert_same_picture(url, expected, uploaded, content_type);
    assert_eq!(resp.header("content-type"), Some(content_type), "{url}");
    assert_eq!(
        resp.header("content-length"),
        Some(expected.len().to_string().as_str())
    );
    assert!(resp.header("etag").is_some(), "{url}: no ETag");
    assert!(
        resp.header("cache-control")
            .is_some_and(|c| c.contains("immutable")),
        "{url}: {:?}",
        resp.header("cache-control")
    );
    assert_eq!(resp.header("x-content-type-options"), Some("nosniff"));
    // HEAD: the GET's status and headers, no body.
    let client = app.client();
    let head = client.send(client.inner.head(app.url(url)));
    assert_eq!(head.status, 200, "HEAD {url}");
    assert!(head.body.is_empty(), "HEAD {url} has a body");
    for name in ["content-type", "etag", "cache-control"] {
        assert_eq!(head.header(name), resp.header(name), "HEAD {url}: {name}");
    }
}

fn avatar_in_db(app: &TestApp, user_id: i64) -> String {
    app.db()
        .row("SELECT avatar FROM users WHERE id = ?1", &[user_id.into()])
        .text("avatar")
}

pub(crate) fn house_images_in_db(app: &TestApp, house_id: i64) -> Vec<String> {
    app.db()
        .query(
            "SELECT file_id FROM house_images WHERE house_id = ?1 ORDER BY id",
            &[house_id.into()],
        )
        .iter()
        .map(|r| r.text("file_id"))
        .collect()
}

pub(crate) fn cover_in_db(app: &TestApp, house_id: i64) -> String {
    app.db()
        .row(
            "SELECT index_image FROM houses WHERE id = ?1",
            &[house_id.into()],
        )
        .text("index_image")
}

#[test]
fn avatar_upload_read_back_conditional_get_and_replacement() {
    let app = spawn_app_on_fastdfs();
    let user = app.register();
    assert_eq!(avatar_in_db(&app, user.user_id), "");

    let first = png(200_000);
    let url = upload_avatar(&app, &user, "me.png", first.clone());
    assert_eq!(avatar_in_db(&app, user.user_id), file_id(&url));
    assert_serves(&app, &url, &first, "image/png");

    let profile = user.client.get(&app.api("/user"));
    assert_eq!(profile.errno(), "0", "{}", profile.text());
    assert_eq!(profile.data()["avatar_url"], url.as_str());

    // Conditional GET: the ETag gives a 304 with no body.
    let etag = app
        .client()
        .get(&app.url(&url))
        .header("etag")
        .unwrap()
        .to_string();
    let cached = app.client().send(
        app.client()
            .inner
            .get(app.url(&url))
            .header("if-none-match", &etag),
    );
    assert_eq!(cached.status, 304, "{}", cached.text());
    assert!(cached.body.is_empty());
    assert_eq!(cached.header("etag"), Some(etag.as_str()));
    // A range is forwarded: 206 with exactly those bytes.
    let part = app.client().send(
        app.client()
            .inner
            .get(app.url(&url))
            .header("range", "bytes=100-199"),
    );
    assert_eq!(part.status, 206, "{}", part.text());
    let stored = app.client().get(&app.url(&url)).body;
    assert_eq!(part.body, &stored[100..200]);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 100-199/{}", stored.len()).as_str())
    );

    // A client-sent `spin-path-info` cannot choose the file: the host's wins.
    let spoofed = app.client().send(
        app.client()
            .inner
            .get(app.url("/images/group1/M00/00/00/wKgAAWNoSuchFileAAAAAAAAAAAA.jpg"))
            .header("spin-path-info", format!("/{}", file_id(&url))),
    );
    spoofed.assert_error("4002", 404);

    // Replacing the avatar (a JPEG named .png: the bytes decide) deletes the old file.
    let second = jpeg(50_000);
    let new_url = upload_avatar(&app, &user, "new.png", second.clone());
    assert_ne!(new_url, url);
    assert!(new_url.ends_with(".jpg"), "{new_url}");
    assert_eq!(avatar_in_db(&app, user.user_id), file_id(&new_url));
    assert_serves(&app, &new_url, &second, "image/jpeg");
    app.client().get(&app.url(&url)).assert_error("4002", 404);
    let profile = user.client.get(&app.api("/user"));
    assert_eq!(profile.data()["avatar_url"], new_url.as_str());
}

#[test]
fn house_photos_first_is_the_cover_everywhere() {
    let app = spawn_app_on_fastdfs();
    let owner = app.register_verified();
    let house_id = publish_house(&app, &owner);
    assert_eq!(cover_in_db(&app, house_id), "");

    let photos = [jpeg(300_000), png(120_000), webp(80_000)];
    let types = ["image/jpeg", "image/png", "image/webp"];
    // Read the detail first so it is cached: each upload must invalidate it.
    let detail = app.client().get(&app.api(&format!("/houses/{house_id}")));
    assert_eq!(detail.data()["house"]["img_urls"], json!([]));

    let mut urls = Vec::new();
    for (photo, content_type) in photos.iter().zip(types) {
        let url = upload_house_image(&app, &owner, house_id, photo.clone());
        assert_serves(&app, &url, photo, content_type);
        urls.push(url);
        let detail = app.client().get(&app.api(&format!("/houses/{house_id}")));
        assert_eq!(
            detail.data()["house"]["img_urls"],
            json!(urls),
            "{}",
            detail.text()
        );
    }
    assert_eq!(
        house_images_in_db(&app, house_id),
        urls.iter().map(|u| file_id(u)).collect::<Vec<_>>()
    );
    assert_eq!(cover_in_db(&app, house_id), file_id(&urls[0]));

    // Listings show the first photo as the cover.
    let search = app.client().get(&app.api("/houses?aid=4"));
    assert_eq!(search.errno(), "0", "{}", search.text());
    let item = search.data()["houses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["house_id"] == house_id)
        .unwrap_or_else(|| panic!("house {house_id} not listed: {}", search.text()))
        .clone();
    assert_eq!(item["img_url"], urls[0].as_str());
    let index = app.client().get(&app.api("/house/index"));
    let carousel = index.data().as_array().expect("data is a bare array");
    assert!(
        carousel
            .iter()
            .any(|h| h["house_id"] == house_id && h["img_url"] == urls[0].as_str()),
        "{}",
        index.text()
    );
    let mine = owner.client.get(&app.api("/user/houses"));
    assert_eq!(mine.data()["houses"][0]["img_url"], urls[0].as_str());
}

#[test]
fn concurrent_first_photos_elect_exactly_one_cover() {
    let app = spawn_app_on_fastdfs();
    let owner = app.register_verified();
    let house_id = publish_house(&app, &owner);
    let url = app.api(&format!("/houses/{house_id}/images"));
    let client = owner.client.clone();
    let results = concurrently(4, move |i| {
        client.post_multipart(&url, "house_image", &format!("{i}.jpg"), jpeg(40_000))
    });
    for r in &results {
        assert_eq!(r.errno(), "0", "{}", r.text());
    }
    let stored = house_images_in_db(&app, house_id);
    assert_eq!(stored.len(), 4);
    // The cover is the first photo that committed, i.e. the lowest row id.
    assert_eq!(cover_in_db(&app, house_id), stored[0]);
}

#[test]
fn bad_files_are_refused_and_nothing_is_written() {
    let app = spawn_app_on_fastdfs();
    let user = app.register();
    let avatar = app.api("/user/avatar");

    // Just over 10 MiB: 413. Exactly 10 MiB is fine.
    user.client
        .post_multipart(&avatar, "avatar", "big.jpg", jpeg(MAX_IMAGE_BYTES + 1))
        .assert_error("4302", 413);
    // Well over the limit: refused by the body cap, before any parsing.
    user.client
        .post_multipart(
            &avatar,
            "avatar",
            "huge.jpg",
            jpeg(MAX_IMAGE_BYTES + 512 * 1024),
        )
        .assert_error("4302", 413);
    // Wrong type, whatever the name says.
    let gif = file_with(b"GIF89a\x01\x00\x01\x00", 2_000);
    user.client
        .post_multipart(&avatar, "avatar", "cat.jpg", gif)
        .assert_error("4302", 400);
    user.client
        .post_multipart(
            &avatar,
            "avatar",
            "notes.jpg",
            b"just some text\n".repeat(50),
        )
        .assert_error("4302", 400);
    user.client
        .post_multipart(&avatar, "avatar", "empty.jpg", Vec::new())
        .assert_error("4302", 400);
    // Missing field, not a form, a truncated form.
    user.client
        .post_multipart(&avatar, "photo", "me.jpg", jpeg(1_000))
        .assert_error("4302", 400);
    user.client
        .post_json(&avatar, &json!({"avatar": "x"}))
        .assert_error("4103", 400);
    user.client
        .send_raw(
            "POST",
            &avatar,
            "multipart/form-data; boundary=XyZ",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"a.jpg\"\r\n\r\n\xFF\xD8\xFF\xE0 cut off".to_vec(),
        )
        .assert_error("4302", 400);
    assert_eq!(avatar_in_db(&app, user.user_id), "");

    let limit = jpeg(MAX_IMAGE_BYTES);
    let url = upload_avatar(&app, &user, "limit.jpg", limit.clone());
    assert_serves(&app, &url, &limit, "image/jpeg");
}

/// The magic bytes only name a format: the whole file must decode as it.
/// Bare signatures, truncated files, a JPEG with bytes after its end and
/// absurd dimensions are 4302, on both upload routes, and nothing is
/// stored. (Markup inside or after a PNG or WebP is cleaned away, not
/// refused: `shared/src/images/clean.rs`.)
#[test]
fn only_whole_images_are_accepted() {
    let app = spawn_app_on_fastdfs();
    let owner = app.register_verified();
    let house_id = publish_house(&app, &owner);
    let routes = [
        (app.api("/user/avatar"), "avatar"),
        (
            app.api(&format!("/houses/{house_id}/images")),
            "house_image",
        ),
    ];
    let with_html = |mut image: Vec<u8>| {
        image.extend_from_slice(b"<html><script>alert(document.cookie)</script></html>");
        image
    };
    // A PNG whose header claims 20,000 × 20,000 pixels (400 MP).
    let mut huge = png(0);
    huge[16..24].copy_from_slice(&[0, 0, 0x4E, 0x20, 0, 0, 0x4E, 0x20]);
    let header_crc = crc32fast::hash(&huge[12..29]);
    huge[29..33].copy_from_slice(&header_crc.to_be_bytes());
    let whole_jpeg = jpeg(20_000);
    let whole_png = png(20_000);
    let whole_webp = webp(20_000);
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("bare JPEG signature", vec![0xFF, 0xD8, 0xFF]),
        ("bare PNG signature", b"\x89PNG\r\n\x1a\n".to_vec()),
        (
            "JPEG header and noise",
            file_with(&[0xFF, 0xD8, 0xFF, 0xE0], 5_000),
        ),
        ("half a JPEG", whole_jpeg[..whole_jpeg.len() / 2].to_vec()),
        (
            "JPEG without its last bytes",
            whole_jpeg[..whole_jpeg.len() - 2].to_vec(),
        ),
        ("half a PNG", whole_png[..whole_png.len() / 2].to_vec()),
        ("half a WebP", whole_webp[..whole_webp.len() / 2].to_vec()),
        ("JPEG/HTML polyglot", with_html(jpeg(5_000))),
        ("400 MP PNG header", huge),
    ];
    for (what, bytes) in &bad {
        for (url, field) in &routes {
            let resp = owner
                .client
                .post_multipart(url, field, "photo.jpg", bytes.clone());
            assert_eq!(
                (resp.status, resp.errno()),
                (400, "4302"),
                "{what} at {url}: {}",
                resp.text()
            );
        }
    }
    assert_eq!(avatar_in_db(&app, owner.user_id), "");
    assert_eq!(cover_in_db(&app, house_id), "");
    // The same images, whole, are accepted.
    for (image, content_type) in [
        (whole_jpeg, "image/jpeg"),
        (whole_png, "image/png"),
        (whole_webp, "image/webp"),
    ] {
        let url = upload_house_image(&app, &owner, house_id, image.clone());
        assert_serves(&app, &url, &image, content_type);
    }
}

#[test]
fn only_the_logged_in_owner_may_upload() {
    let app = spawn_app_on_fastdfs();
    let owner = app.register_verified();
    let other = app.register();
    let house_id = publish_house(&app, &owner);
    let photo = || jpeg(5_000);

    let anonymous = app.client();
    // The session is checked before the body is read: an oversized file from
    // a stranger is a 4101, not a 413.
    anonymous
        .post_multipart(
            &app.api("/user/avatar"),
            "avatar",
            "a.jpg",
            jpeg(MAX_IMAGE_BYTES + 1),
        )
        .assert_error("4101", 401);
    anonymous
        .post_multipart(&app.api("/user/avatar"), "avatar", "a.jpg", photo())
        .assert_error("4101", 401);
    anonymous
        .post_multipart(
            &app.api(&format!("/houses/{house_id}/images")),
            "house_image",
            "a.jpg",
            photo(),
        )
        .assert_error("4101", 401);
    other
        .client
        .post_multipart(
            &app.api(&format!("/houses/{house_id}/images")),
            "house_image",
            "a.jpg",
            photo(),
        )
        .assert_error("4105", 403);
    owner
        .client
        .post_multipart(
            &app.api(&format!("/houses/{}/images", house_id + 1000)),
            "house_image",
            "a.jpg",
            photo(),
        )
        .assert_error("4002", 404);
    owner
        .client
        .post_multipart(
            &app.api("/houses/abc/images"),
            "house_image",
            "a.jpg",
            photo(),
        )
        .assert_error("4103", 400);
    owner
        .client
        .post_multipart(
            &app.api(&format!("/houses/{house_id}/images")),
            "avatar",
            "a.jpg",
            photo(),
        )
        .assert_error("4302", 400);
    assert!(house_images_in_db(&app, house_id).is_empty());
    assert_eq!(cover_in_db(&app, house_id), "");
}

#[test]
fn image_store_down_is_4301_and_leaves_no_half_state() {
    let mut app = spawn_app_on_fastdfs();
    let owner = app.register_verified();
    let house_id = publish_house(&app, &owner);
    let avatar_url = upload_avatar(&app, &owner, "me.jpg", jpeg(10_000));
    let photo_url = upload_house_image(&app, &owner, house_id, jpeg(10_000));

    app.image_store.as_mut().expect("fdfs-proxy built").stop();

    owner
        .client
        .post_multipart(&app.api("/user/avatar"), "avatar", "new.jpg", jpeg(10_000))
        .assert_error("4301", 502);
    owner
        .client
        .post_multipart(
            &app.api(&format!("/houses/{house_id}/images")),
            "house_image",
            "b.png",
            png(10_000),
        )
        .assert_error("4301", 502);
    app.client()
        .get(&app.url(&photo_url))
        .assert_error("4301", 502);

    assert_eq!(avatar_in_db(&app, owner.user_id), file_id(&avatar_url));
    assert_eq!(
        house_images_in_db(&app, house_id),
        vec![file_id(&photo_url)]
    );
    assert_eq!(cover_in_db(&app, house_id), file_id(&photo_url));
}

#[test]
fn image_route_refuses_malformed_and_unknown_ids() {
    let app = spawn_app_on_fastdfs();
    let client = app.client();
    // Well-formed but never stored.
    client
        .get(&app.url("/images/group1/M00/00/00/wKgAAWNoSuchFileAAAAAAAAAAAA.jpg"))
        .assert_error("4002", 404);
    for bad in [
        "/images/",
        "/images/group1",
        "/images/group1/M00/00/00/..",
        "/images/group1/M00/00/00/a%2F..%2Fb.jpg",
        "/images/group_1/M00/00/00/a.jpg",
        "/images/group1/M00/00/00/a/b.jpg",
        "/images/group1/MZZ/00/00/a.jpg",
    ] {
        let resp = client.get(&app.url(bad));
        assert_eq!(resp.status, 404, "{bad}: {}", resp.text());
    }
    let post = client.send_raw(
        "POST",
        &app.url("/images/group1/M00/00/00/a.jpg"),
        "image/jpeg",
        jpeg(10),
    );
    assert_eq!(post.status, 405, "{}", post.text());
}

/// A stand-in for fdfs-proxy on loopback that either answers every request
/// with 503 or accepts connections and never answers.
fn fake_proxy(hang: bool) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                if hang {
                    // Hold the connection open, say nothing.
                    std::thread::sleep(std::time::Duration::from_secs(120));
                    return;
                }
                if ihome_tests::read_request(&stream).is_some() {
                    ihome_tests::write_json_response(
                        &mut stream,
                        "503 Service Unavailable",
                        r#"{"error":"backend unavailable"}"#,
                    );
                }
            });
        }
    });
    origin
}

pub(crate) fn app_with_proxy(origin: String) -> TestApp {
    ihome_tests::spawn_app_with(ihome_tests::AppOptions {
        image_store: false,
        env: vec![("SPIN_VARIABLE_FDFS_PROXY_ORIGIN".into(), origin)],
        ..Default::default()
    })
}

#[test]
fn image_store_errors_are_4301_with_nothing_written() {
    let app = app_with_proxy(fake_proxy(false));
    let owner = app.register_verified();
    let house_id = publish_house(&app, &owner);
    owner
        .client
        .post_multipart(&app.api("/user/avatar"), "avatar", "a.jpg", jpeg(50_000))
        .assert_error("4301", 502);
    owner
        .client
        .post_multipart(
            &app.api(&format!("/houses/{house_id}/images")),
            "house_image",
            "a.jpg",
            jpeg(50_000),
        )
        .assert_error("4301", 502);
    app.client()
        .get(&app.url("/images/group1/M00/00/00/wKgAAWNoSuchFileAAAAAAAAAAAA.jpg"))
        .assert_error("4301", 502);
    assert_eq!(avatar_in_db(&app, owner.user_id), "");
    assert!(house_images_in_db(&app, house_id).is_empty());
    assert_eq!(cover_in_db(&app, house_id), "");
}

#[test]
fn a_hung_image_store_times_out_as_502() {
    let app = app_with_proxy(fake_proxy(true));
    let started = std::time::Instant::now();
    app.client()
        .get(&app.url("/images/group1/M00/00/00/wKgAAWNoSuchFileAAAAAAAAAAAA.jpg"))
        .assert_error("4301", 502);
    // The read timeout (10 s) fired, not the host's default of 600 s.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

/// Files in the embedded store of fdfs-proxy (under `<state>/fdfs/data`:
/// not its spool, nor its upload-token records).
fn stored_files(app: &TestApp) -> usize {
    fn walk(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |entries| {
            entries
                .flatten()
                .map(|e| {
                    let path = e.path();
                    if path.is_dir() {
                        if path.file_name().is_some_and(|n| n == "tmp") {
                            0
                        } else {
                            walk(&path)
                        }
                    } else {
                        usize::from(!e.file_name().to_string_lossy().starts_with('.'))
                    }
                })
                .sum()
        })
    }
    walk(&app.state_dir.path().join("fdfs/data"))
}

#[test]
fn a_failed_database_write_deletes_the_uploaded_file() {
    let app = spawn_app();
    let owner = app.register_verified();
    let house_id = publish_house(&app, &owner);
    upload_house_image(&app, &owner, house_id, jpeg(5_000));
    let files = stored_files(&app);
    assert!(files >= 1, "the store keeps its files under <state>/fdfs");

    // Hold off the database's writes while uploading: the upload cannot
    // even record its intent, so nothing reaches the store (a transaction
    // failing after the store is covered by the photos unit tests).
    let mut db = app.db();
    db.block_writes();
    let resp = owner.client.post_multipart(
        &app.api(&format!("/houses/{house_id}/images")),
        "house_image",
        "b.jpg",
        jpeg(5_000),
    );
    let avatar =
        owner
            .client
            .post_multipart(&app.api("/user/avatar"), "avatar", "a.jpg", jpeg(5_000));
    db.execute("ROLLBACK", &[]);
    resp.assert_error("4001", 500);
    avatar.assert_error("4001", 500);
    assert_eq!(stored_files(&app), files, "no orphan left in the store");
    assert_eq!(house_images_in_db(&app, house_id).len(), 1);
    assert_eq!(avatar_in_db(&app, owner.user_id), "");
}

#[test]
fn a_house_takes_at_most_30_photos() {
    // photos::MAX_PHOTOS_PER_HOUSE.
    const MAX_PHOTOS: usize = 30;
    /// The last photos, uploaded at once: of the five, three fit.
    const RACING: usize = 5;
    let app = spawn_app_on_fastdfs();
    let owner = app.register_verified();
    let house_id = publish_house(&app, &owner);
    for _ in 0..MAX_PHOTOS + 2 - RACING {
        upload_house_image(&app, &owner, house_id, png(2_000));
    }
    let url = app.api(&format!("/houses/{house_id}/images"));
    let client = owner.client.clone();
    let racing = ihome_tests::concurrently(RACING, move |i| {
        client.post_multipart(&url, "house_image", &format!("{i}.png"), png(2_000))
    });
    let refused: Vec<_> = racing.iter().filter(|r| r.errno() != "0").collect();
    assert_eq!(refused.len(), 2, "{racing:#?}");
    for r in refused {
        r.assert_error("4004", 409);
    }
    // Each photo has its own place in the order.
    let positions = app.db().count(
        "SELECT count(DISTINCT position) AS n FROM house_images WHERE house_id = ?1",
        &[house_id.into()],
    );
    assert_eq!(positions, MAX_PHOTOS as i64);
    owner
        .client
        .post_multipart(
            &app.api(&format!("/houses/{house_id}/images")),
            "house_image",
            "one-more.png",
            png(2_000),
        )
        .assert_error("4004", 409);
    assert_eq!(house_images_in_db(&app, house_id).len(), MAX_PHOTOS);
}

/// Avatars uploaded at once: one stays, and every other file (each was the
/// avatar for a moment, or never) is deleted from the store, not left behind.
#[test]
fn concurrent_avatar_uploads_leave_one_file_in_the_store() {
    let app = spawn_app();
    let user = app.register();
    let before = stored_files(&app);
    let url = app.api("/user/avatar");
    let client = user.client.clone();
    let results = ihome_tests::concurrently(4, move |i| {
        client.post_multipart(&url, "avatar", &format!("{i}.jpg"), jpeg(8_000))
    });
    for r in &results {
        assert_eq!(r.errno(), "0", "{}", r.text());
    }
    let avatar = avatar_in_db(&app, user.user_id);
    assert!(
        results
            .iter()
            .any(|r| r.data()["avatar_url"].as_str().map(file_id) == Some(avatar.as_str())),
        "the avatar is one of the uploads"
    );
    assert_eq!(pending_deletes(&app), Vec::new(), "nothing left to delete");
    assert_eq!(
        stored_files(&app),
        before + 1,
        "one avatar file in the store"
    );
}

/// Rows of the app's queue of deletions the store has not confirmed.
pub(crate) fn pending_deletes(app: &TestApp) -> Vec<(String, i64)> {
    app.db()
        .query(
            "SELECT file_id, attempts FROM pending_image_deletes ORDER BY file_id",
            &[],
        )
        .iter()
        .map(|r| (r.text("file_id"), r.int("attempts")))
        .collect()
}

/// Status of `GET /files/<id>` asked of fdfs-proxy directly.
pub(crate) fn status_in_store(app: &TestApp, id: &str) -> u16 {
    let origin = &app.image_store.as_ref().expect("fdfs-proxy").origin;
    app.client().get(&format!("{origin}/files/{id}")).status
}

#[test]
fn a_storage_outage_loses_no_image_and_replaced_files_are_deleted() {
    let mut app = spawn_app_on_fastdfs();
    if app.image_store.as_ref().is_none_or(|s| s.cluster.is_none()) {
        println!("a_storage_outage_loses_no_image: skipped: no real FastDFS");
        return;
    }
    let owner = app.register_verified();
    let house_id = publish_house(&app, &owner);
    let photo = jpeg(20_000);
    let photo_url = upload_house_image(&app, &owner, house_id, photo.clone());
    let old_avatar = upload_avatar(&app, &owner, "me.jpg", jpeg(8_000));

    let store = app.image_store.as_mut().unwrap();
    let cluster = store.cluster.as_ref().unwrap();
    cluster.stop_storage(ihome_tests::real_fdfs::Storage::First);
    cluster.wait_active(0);
    // Reads and uploads fail cleanly; nothing the app knows is dropped.
    app.client()
        .get(&app.url(&photo_url))
        .assert_error("4301", 502);
    owner
        .client
        .post_multipart(&app.api("/user/avatar"), "avatar", "new.jpg", jpeg(8_000))
        .assert_error("4301", 502);
    assert_eq!(
        house_images_in_db(&app, house_id),
        vec![file_id(&photo_url)]
    );
    assert_eq!(avatar_in_db(&app, owner.user_id), file_id(&old_avatar));

    let cluster = app.image_store.as_ref().unwrap().cluster.as_ref().unwrap();
    cluster.start_storage(ihome_tests::real_fdfs::Storage::First);
    cluster.wait_active(1);
    assert_serves(&app, &photo_url, &photo, "image/jpeg");
    // Replacing the avatar deletes the old file from FastDFS itself.
    let new_avatar = upload_avatar(&app, &owner, "new.jpg", jpeg(8_000));
    assert_eq!(status_in_store(&app, file_id(&old_avatar)), 404);
    assert_eq!(status_in_store(&app, file_id(&new_avatar)), 200);
    assert!(pending_deletes(&app).is_empty());
}

/// A stand-in for fdfs-proxy whose deletes fail (503) while `failing` is
/// set; it records every DELETE and hands out well-formed file ids.
pub(crate) struct FlakyProxy {
    pub(crate) origin: String,
    pub(crate) failing: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub(crate) deletes: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl FlakyProxy {
    pub(crate) fn start() -> FlakyProxy {
        use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let failing = Arc::new(AtomicBool::new(false));
        let deletes = Arc::new(Mutex::new(Vec::new()));
        let (f, d) = (failing.clone(), deletes.clone());
        let seq = Arc::new(AtomicU32::new(0));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (f, d, seq) = (f.clone(), d.clone(), seq.clone());
                std::thread::spawn(move || {
                    let Some(request) = ihome_tests::read_request(&stream) else {
                        return;
                    };
                    let (status, answer) = match request.method.as_str() {
                        "POST" => {
                            let n = seq.fetch_add(1, Ordering::SeqCst);
                            let id =
                                format!("group1/M00/00/00/wKgAAWNoFlakyProxyAAAAAAAA{n:03}.jpg");
                            (
                                "200 OK",
                                format!(r#"{{"file_id":"{id}","size":{}}}"#, request.body.len()),
                            )
                        }
                        // File deletions only (an upload's token release
                        // is a DELETE /tokens/…, answered 404 below).
                        "DELETE" if request.path.starts_with("/files/") => {
                            let id = request.path.trim_start_matches("/files/").to_owned();
                            d.lock().unwrap().push(id);
                            if f.load(Ordering::SeqCst) {
                                (
                                    "503 Service Unavailable",
                                    r#"{"error":"storage down"}"#.to_owned(),
                                )
                            } else {
                                ("204 No Content", String::new())
                            }
                        }
                        _ => ("404 Not Found", r#"{"error":"file not found"}"#.to_owned()),
                    };
                    ihome_tests::write_json_response(&mut stream, status, &answer);
                });
            }
        });
        FlakyProxy {
            origin,
            failing,
            deletes,
        }
    }
}

#[test]
fn an_unconfirmed_delete_is_kept_and_retried_by_a_later_upload() {
    use std::sync::atomic::Ordering;
    let proxy = FlakyProxy::start();
    let app = app_with_proxy(proxy.origin.clone());
    let owner = app.register_verified();
    let first = upload_avatar(&app, &owner, "a.jpg", jpeg(5_000));
    let first = file_id(&first).to_owned();

    // The store cannot confirm the deletion of the replaced avatar: the
    // request still succeeds, and the id is kept, not forgotten.
    proxy.failing.store(true, Ordering::SeqCst);
    upload_avatar(&app, &owner, "b.jpg", jpeg(5_000));
    assert_eq!(proxy.deletes.lock().unwrap().clone(), vec![first.clone()]);
    assert_eq!(pending_deletes(&app), vec![(first.clone(), 1)]);

    // A later image request, with the store back, retries it.
    proxy.failing.store(false, Ordering::SeqCst);
    let house_id = publish_house(&app, &owner);
    upload_house_image(&app, &owner, house_id, png(3_000));
    assert_eq!(
        proxy.deletes.lock().unwrap().clone(),
        vec![first.clone(), first]
    );
    assert!(pending_deletes(&app).is_empty());
}

#[test]
fn a_malformed_image_base_url_is_a_4500_before_anything_is_stored() {
    // Not a URL a page could put in `src` safely: refused, never used.
    let base = "javascript:alert(1)//";
    let app = ihome_tests::spawn_app_with(ihome_tests::AppOptions {
        env: vec![("SPIN_VARIABLE_IMAGE_BASE_URL".into(), base.into())],
        ..Default::default()
    });
    let owner = app.register_verified();
    let house_id = publish_house(&app, &owner);
    let files = stored_files(&app);
    owner
        .client
        .post_multipart(&app.api("/user/avatar"), "avatar", "a.jpg", jpeg(5_000))
        .assert_error("4500", 500);
    owner
        .client
        .post_multipart(
            &app.api(&format!("/houses/{house_id}/images")),
            "house_image",
            "a.jpg",
            jpeg(5_000),
        )
        .assert_error("4500", 500);
    assert_eq!(stored_files(&app), files, "nothing reached the store");
    assert_eq!(avatar_in_db(&app, owner.user_id), "");
    assert!(house_images_in_db(&app, house_id).is_empty());
    let cause = format!("image_base_url = {base:?}");
    assert!(
        app.logged_error("4500", &cause),
        "no 4500 naming {cause} in the log:\n{}",
        app.log()
    );
}
