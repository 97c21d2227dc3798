//! Image URLs: the database keeps only FastDFS file ids
//! (`group1/M00/00/00/abc.jpg`); responses carry full URLs, the
//! `image_base_url` variable ([`crate::config::image_base_url`], default: the
//! app's own `/images/` route) followed by the id.

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
