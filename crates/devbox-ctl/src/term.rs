//! What devbox-ctl prints for humans is made harmless for a terminal: container logs, status
//! fields, error messages and names come from containers (whoever is root in them) or from
//! users.nix, and a control sequence in them (ESC ] 2 ; … BEL sets the window title; others
//! rewrite the screen, or on some terminals answer with input) must not reach the terminal raw.
//! C0 controls except newline and tab, DEL and C1 controls are shown as `\xNN` instead.
//! `--json` output does not pass through here: it stays exact (JSON escapes C0 itself).

use std::borrow::Cow;

/// Whether `c` would be interpreted by a terminal rather than shown.
fn is_control(c: char) -> bool {
    let n = u32::from(c);
    (n < 0x20 && c != '\n' && c != '\t') || (0x7f..=0x9f).contains(&n)
}

/// `text` with every control character (but newline and tab) made visible as `\xNN`; a CR
/// directly before a newline (CRLF line ends) is dropped rather than shown.
pub fn clean(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\r' && chars.peek() == Some(&'\n') {
            continue;
        }
        if is_control(c) {
            out.push_str(&format!("\\x{:02x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Cleans a byte stream (logs) chunk by chunk: a UTF-8 character cut between two chunks is
/// kept back until the rest arrives; bytes that are not UTF-8 are shown as `\xNN` (a lone
/// 0x9b byte is CSI to an 8-bit terminal).
#[derive(Debug, Default)]
pub struct StreamCleaner {
    carry: Vec<u8>,
}

impl StreamCleaner {
    /// The printable text of `chunk` (plus what was kept back from the previous one).
    pub fn push(&mut self, chunk: &[u8]) -> String {
        self.carry.extend_from_slice(chunk);
        let mut out = String::new();
        let mut rest: &[u8] = &self.carry;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(&clean(s));
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    // Valid by construction (valid_up_to).
                    out.push_str(&clean(&String::from_utf8_lossy(good)));
                    match e.error_len() {
                        Some(n) => {
                            for b in &bad[..n] {
                                out.push_str(&format!("\\x{b:02x}"));
                            }
                            rest = &bad[n..];
                        }
                        // An incomplete character at the end: wait for the next chunk.
                        None => {
                            rest = bad;
                            break;
                        }
                    }
                }
            }
        }
        self.carry = rest.to_vec();
        out
    }

    /// Whatever is left at the end of the stream (an incomplete character), made visible.
    pub fn finish(&mut self) -> String {
        let out = self.carry.iter().map(|b| format!("\\x{b:02x}")).collect();
        self.carry.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_made_visible_and_text_stays() {
        assert_eq!(clean("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(clean("\u{1b}]2;x\u{7}"), "\\x1b]2;x\\x07");
        assert_eq!(clean("a\u{9b}31mb"), "a\\x9b31mb");
        assert_eq!(clean("del\u{7f}"), "del\\x7f");
        assert_eq!(clean("crlf\r\nbare\rcr"), "crlf\nbare\\x0dcr");
        assert_eq!(clean("ünïcödé ✓"), "ünïcödé ✓");
    }

    #[test]
    fn a_stream_split_anywhere_gives_the_same_text_without_raw_controls() {
        let input = "héllo \u{1b}]2;x\u{7} wörld \u{9b}2J ✓\n"
            .as_bytes()
            .to_vec();
        let whole = {
            let mut c = StreamCleaner::default();
            let mut s = c.push(&input);
            s.push_str(&c.finish());
            s
        };
        assert!(!whole.contains('\u{1b}') && !whole.contains('\u{9b}'));
        for cut in 0..input.len() {
            let mut c = StreamCleaner::default();
            let mut s = c.push(&input[..cut]);
            s.push_str(&c.push(&input[cut..]));
            s.push_str(&c.finish());
            assert_eq!(s, whole, "cut at {cut}");
        }
        // Bytes that are not UTF-8 (a raw 8-bit CSI) are shown, not passed.
        let mut c = StreamCleaner::default();
        assert_eq!(c.push(b"a\x9b2Jb"), "a\\x9b2Jb");
        assert_eq!(c.push(b"\xe2\x9c"), "");
        assert_eq!(c.finish(), "\\xe2\\x9c");
    }
}
