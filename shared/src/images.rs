//! Image URLs: the database keeps only FastDFS file ids
//! (`group1/M00/00/00/abc.jpg`); responses carry full URLs built from the
//! `image_base_url` variable (default: the app's own `/images/` route).

pub const DEFAULT_IMAGE_BASE_URL: &str = "/images/";

/// The configured base URL, always ending in `/`.
pub fn base_url() -> String {
    let mut base = crate::config::get_or("image_base_url", DEFAULT_IMAGE_BASE_URL);
    if !base.ends_with('/') {
        base.push('/');
    }
    base
}

/// Full URL of a stored file id; `""` for no image (never a dangling prefix).
pub fn url_with(base: &str, file_id: &str) -> String {
    if file_id.is_empty() {
        String::new()
    } else {
        format!("{base}{file_id}")
    }
}

/// [`url_with`] with the configured base.
pub fn url(file_id: &str) -> String {
    url_with(&base_url(), file_id)
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
