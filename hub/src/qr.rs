//! QR codes of join links, made once for every place that shows one: the app's host screen and
//! its call page (over IPC), the call page in a browser (`GET /qr?text=…` on the host) and the
//! terminal of `lancall-host`.

use serde::Serialize;

/// Longest text made into a QR code (a join link is about 110 characters).
pub const MAX_QR_TEXT: usize = 1024;

/// A QR code as rows of modules, `1` dark and `0` light: the page draws it, so no image format
/// and no `data:` URL are needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QrMatrix {
    /// Modules per side.
    pub size: usize,
    /// `size * size` characters, row by row.
    pub modules: String,
}

/// Renders `text` as a QR code with error correction M (a phone reads it off a screen at an
/// angle); `None` for an empty text or one over [`MAX_QR_TEXT`] bytes.
pub fn qr_matrix(text: &str) -> Option<QrMatrix> {
    if text.is_empty() || text.len() > MAX_QR_TEXT {
        return None;
    }
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M).ok()?;
    let modules = code
        .to_colors()
        .iter()
        .map(|c| if *c == qrcode::Color::Dark { '1' } else { '0' })
        .collect();
    Some(QrMatrix { size: code.width(), modules })
}

/// `text` as a QR code drawn with half-block characters for a terminal, light on dark (error
/// correction L keeps it small enough for an 80x24 terminal).
pub fn qr_terminal(text: &str) -> Option<String> {
    if text.is_empty() || text.len() > MAX_QR_TEXT {
        return None;
    }
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::L).ok()?;
    Some(
        code.render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

/// The `text` parameter of a query string (`text=…`, percent-encoded as `encodeURIComponent`
/// writes it, `+` read as a space); `None` when it is missing, too long, or not UTF-8.
pub fn text_from_query(query: &str) -> Option<String> {
    let raw = query.split('&').find_map(|kv| kv.strip_prefix("text="))?;
    if raw.len() > 3 * MAX_QR_TEXT {
        return None;
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = raw.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_codes_are_square_matrices_with_finder_patterns() {
        let qr = qr_matrix("https://192.168.1.20:7443/#room=call&token=0123456789abcdef0123456789abcdef&fp=aa");
        let Some(qr) = qr else { panic!("a join link makes a QR code") };
        assert!(qr.size >= 21 && (qr.size - 17) % 4 == 0, "a QR code is 17 + 4v modules wide");
        assert_eq!(qr.modules.len(), qr.size * qr.size);
        assert!(qr.modules.chars().all(|c| c == '0' || c == '1'));
        // The top-left finder pattern: a dark 7x7 ring around a light ring around a dark 3x3.
        let at = |x: usize, y: usize| qr.modules.as_bytes()[y * qr.size + x] == b'1';
        assert!((0..7).all(|i| at(i, 0) && at(0, i) && at(6, i) && at(i, 6)));
        assert!((1..6).all(|i| !at(i, 1) && !at(1, i)));
        assert!(at(3, 3));
    }

    #[test]
    fn query_text_is_percent_decoded_and_checked() {
        assert_eq!(
            text_from_query("text=https%3A%2F%2F10.0.0.1%3A7443%2F%23room%3Dcall%26token%3Dab").as_deref(),
            Some("https://10.0.0.1:7443/#room=call&token=ab")
        );
        assert_eq!(text_from_query("x=1&text=a+b%C3%A9").as_deref(), Some("a bé"));
        assert_eq!(text_from_query("other=1"), None);
        assert_eq!(text_from_query("text=%zz"), None);
        assert_eq!(text_from_query("text=%4"), None);
        assert_eq!(text_from_query("text=%FF%FE"), None, "not UTF-8");
        assert_eq!(text_from_query(&format!("text={}", "a".repeat(4000))), None);
    }

    #[test]
    fn empty_and_oversized_texts_make_no_code() {
        assert_eq!(qr_matrix(""), None);
        assert_eq!(qr_matrix(&"x".repeat(MAX_QR_TEXT + 1)), None);
        assert!(qr_terminal(&"x".repeat(MAX_QR_TEXT + 1)).is_none());
        assert!(qr_terminal("https://10.0.0.1:7443/").is_some_and(|t| t.lines().count() > 10));
    }
}
