//! The components' one way to write a log line: [`log_line!`].
//!
//! `eprintln!` formats straight into an unbuffered stderr, one write per
//! piece of its format string (`"{} ({}): {}"` is five writes and the
//! newline a sixth). Each write reaches the host on its own, and real Spin
//! echoes every write as it comes, so the pieces of lines that concurrent
//! instances write at once interleave on the host's stderr
//! (`4001 (4001 (503): 503): …`). [`log_line!`] formats the whole line first,
//! newline included, and hands it to stderr in ONE `write_all` of at most
//! [`MAX_LINE`] bytes, which WASI passes to the host as one write: lines
//! from many instances stay whole whatever the host does with them.
//!
//! A line is also one record: a newline or carriage return inside it (an
//! error text that spans lines, a value a client sent) is written as `\n` /
//! `\r`, so no message can end a line early or forge the next one.

use std::fmt;
use std::io::Write;

/// The most bytes one log line may take, newline included: WASI's
/// `output-stream.blocking-write-and-flush` takes at most 4096 bytes per
/// call, so a longer line would reach the host in several writes that
/// other instances' lines could come between.
pub const MAX_LINE: usize = 4096;

/// What ends a line cut at [`MAX_LINE`].
const TRUNCATED: &str = " …[truncated]";

/// Writes one log line to stderr: `log_line!("rollback failed: {e}")`.
/// Takes `format!`'s arguments; the newline is added.
#[macro_export]
macro_rules! log_line {
    ($($arg:tt)*) => {
        $crate::log::write_line(::std::format_args!($($arg)*))
    };
}

/// [`log_line!`]'s work: the line as [`line`] makes it, in one write. A
/// failed write is dropped: there is nowhere else to say it, and a request
/// must not fail because its log could not be written.
pub fn write_line(args: fmt::Arguments<'_>) {
    let line = line(args);
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// The bytes of one log line: `args` formatted, line breaks inside escaped,
/// cut at a character boundary to fit [`MAX_LINE`] with its newline.
pub fn line(args: fmt::Arguments<'_>) -> String {
    let text = fmt::format(args);
    let mut line = String::with_capacity(text.len().min(MAX_LINE) + 1);
    for c in text.chars() {
        match c {
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            c => line.push(c),
        }
    }
    if line.len() + 1 > MAX_LINE {
        let mut end = MAX_LINE - 1 - TRUNCATED.len();
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push_str(TRUNCATED);
    }
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_formatted_whole_with_its_newline() {
        let (errno, status) = ("4001", 503);
        assert_eq!(
            line(format_args!("{errno} ({status}): database unavailable")),
            "4001 (503): database unavailable\n"
        );
    }

    #[test]
    fn line_breaks_inside_are_escaped() {
        assert_eq!(
            line(format_args!("db error: x\nDETAIL: y\r\n")),
            "db error: x\\nDETAIL: y\\r\\n\n"
        );
    }

    #[test]
    fn a_long_line_is_cut_at_a_character_boundary_to_fit_one_write() {
        // Three-byte characters, so the cut falls inside one at first.
        let long = "数".repeat(MAX_LINE);
        let cut = line(format_args!("{long}"));
        assert!(cut.len() <= MAX_LINE, "{}", cut.len());
        assert!(cut.len() > MAX_LINE - 3 - TRUNCATED.len() - 1);
        assert!(cut.ends_with(&format!("{TRUNCATED}\n")));
        assert_eq!(cut.matches('\n').count(), 1);
        // Exactly at the bound: kept whole.
        let fits = "a".repeat(MAX_LINE - 1);
        assert_eq!(line(format_args!("{fits}")), format!("{fits}\n"));
        let over = "a".repeat(MAX_LINE);
        assert!(line(format_args!("{over}")).ends_with(&format!("{TRUNCATED}\n")));
    }
}
