//! GET /api/v1.0/imagecode/:uuid: a PNG captcha for a client-made v4 uuid.
//!
//! `ihome_shared::captcha::issue` admits each drawing first (the per-client
//! and app-wide captcha budgets; 4201 with `Retry-After` beyond them) and
//! stores the code under `captcha:<uuid>` for 5 minutes; a new image for the
//! same uuid replaces the old code, and the first check (by `smscode`) burns
//! it. This component only draws (the `captcha` crate is linked here alone).

use captcha::Captcha;
use captcha::filters::{Dots, Noise, Wave};
use ihome_shared::captcha::{self as codes, ALPHABET, CODE_LEN, CaptchaId};
use ihome_shared::client::ClientId;
use ihome_shared::http::{self, ApiRequest};
use ihome_shared::{ApiError, ApiResult, clock, store};
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_sdk::http_component;

/// Size of the image the register page shows (the classic app's 220×120
/// box); the drawn characters are about 200 px wide, so this crops little.
const WIDTH: u32 = 220;
const HEIGHT: u32 = 120;
/// Share of pixels flipped to noise: enough to break thresholding OCR,
/// little enough for people.
const NOISE: f32 = 0.08;
/// Sine distortion (frequency, amplitude in px), applied in both directions
/// so characters can't be segmented by straight cuts.
const WAVE_FREQ: f64 = 2.0;
const WAVE_AMP: f64 = 16.0;
/// Blobs drawn over the text after cropping.
const DOTS: u32 = 12;

#[http_component]
fn handle(req: IncomingRequest) -> Response {
    http::serve(req, &[(Method::Get, image)])
}

fn image(req: &ApiRequest) -> ApiResult<Response> {
    let id = CaptchaId::parse(req.path_param("uuid")?)?;
    let client = ClientId::of(req)?;
    let png = codes::issue(&store::kv()?, &id, &client, clock::now(), draw)?;
    Ok(Response::builder()
        .status(200)
        .header("content-type", "image/png")
        .header("cache-control", "no-store")
        .body(png)
        .build())
}

/// A fresh random code and its distorted image.
fn draw() -> ApiResult<(String, Vec<u8>)> {
    let mut c = Captcha::new();
    c.set_chars(ALPHABET)
        .add_chars(CODE_LEN as u32)
        .apply_filter(Noise::new(NOISE))
        .apply_filter(Wave::new(WAVE_FREQ, WAVE_AMP).horizontal())
        .apply_filter(Wave::new(WAVE_FREQ, WAVE_AMP).vertical())
        .view(WIDTH, HEIGHT)
        .apply_filter(Dots::new(DOTS));
    let code = c.chars_as_string();
    // Every ALPHABET character has a glyph in the crate's font; a short code
    // would mean that stopped being true.
    if code.chars().count() != CODE_LEN {
        return Err(ApiError::internal(format!(
            "captcha font lacks glyphs: drew {code:?}"
        )));
    }
    let png = c
        .as_png()
        .ok_or_else(|| ApiError::internal("captcha PNG encoding failed"))?;
    Ok((code, png))
}
