//! Images: everything between an uploaded file and the URL a page shows.
//!
//! The database keeps only image-store file ids
//! (`group1/M00/00/00/abc.jpg`); responses carry full URLs: the
//! `image_base_url` variable ([`crate::config::image_base_url`], default: the
//! app's own `/images/` route) followed by the id ([`url_with`]).
//!
//! # Layout
//! The modules form a tree: each uses only those listed before it.
//! - [`kind`]: [`ImageKind`], the accepted formats named by their magic
//!   bytes, and [`Image`], an accepted image as it is stored.
//! - [`clean`]: decoding a whole file within bounds and re-encoding its
//!   pixels, so no byte a client sent (metadata, markup) is stored.
//! - [`upload`]: the frame of an upload route (checks before the body, the
//!   capped body), the multipart form, and its file as a cleaned [`Image`].
//! - [`store`]: the image store (fdfs-proxy over HTTP), upload intents and
//!   the queue of deletions that survives an outage.
//! - this file: [`url_with`].
//!
//! The use cases that change a user's or a house's images are in
//! [`crate::photos`].

pub mod clean;
pub mod kind;
pub mod store;
pub mod upload;

pub use kind::{Image, ImageKind};

/// Full URL of a stored file id under `base` (which ends in `/`); `""` for
/// no image (never a dangling prefix).
pub fn url_with(base: &str, file_id: &str) -> String {
    if file_id.is_empty() {
        String::new()
    } else {
        format!("{base}{file_id}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn empty_ids_give_empty_urls() {
        assert_eq!(super::url_with("/images/", ""), "");
        assert_eq!(
            super::url_with("https://cdn.example/", "group1/M00/00/00/a.jpg"),
            "https://cdn.example/group1/M00/00/00/a.jpg"
        );
    }
}
