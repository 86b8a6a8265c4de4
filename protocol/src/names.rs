//! Display names: the one set of rules the hub applies to every `join` and `knock`, so that a
//! name reads the same to everyone in the call, whichever client they use.
//!
//! A name is what other people see next to a face, so it must not be able to deceive them:
//! - bidirectional controls (U+202E "right-to-left override" and friends) are removed, since
//!   `"\u{202E}nimda"` is shown to others as "admin";
//! - zero-width characters (U+200B, U+2060, U+FEFF, …) are removed, since a name made only of them
//!   is an invisible person;
//! - combining marks are capped at [`MAX_MARKS_PER_CHAR`] per character, since 40 stacked marks
//!   paint over the names above and below;
//! - the result is in Unicode NFC, so the same name typed on two keyboards compares equal;
//! - a name must keep at least one letter or digit others can see.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use crate::hub::{ErrorCode, ProtocolError};

/// Display names longer than this (after the rules above) are refused.
pub const MAX_NAME_CHARS: usize = 64;

/// Combining marks kept on one character. Three is enough for every living script's normal text
/// (Vietnamese stacks two on a vowel; Devanagari conjuncts carry one or two) and far from the
/// dozens a "Zalgo" name stacks.
pub const MAX_MARKS_PER_CHAR: usize = 3;

/// Characters that change the direction of the text around them (Unicode's explicit bidi
/// formatting characters and marks).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that take no space and show nothing: zero-width space, joiners, word joiner and
/// invisible operators, the byte-order mark, the Mongolian vowel separator, the soft hyphen.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{180E}' | '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
}

/// Applies the rules of this module to a display name as a person typed it: the name to show
/// others, or an `invalid-name` error with a sentence saying why.
pub fn normalize_name(name: &str) -> Result<String, ProtocolError> {
    let invalid = |message: String| ProtocolError::new(ErrorCode::InvalidName, message);
    if name.trim().is_empty() {
        return Err(invalid("Please enter a name so the others know who you are.".into()));
    }
    if name.trim().chars().any(char::is_control) {
        return Err(invalid("A name cannot contain control characters such as line breaks or tabs.".into()));
    }
    let mut out = String::with_capacity(name.len());
    let mut marks = 0;
    for c in name.chars().filter(|&c| !is_bidi_control(c) && !is_invisible(c)).nfc() {
        if is_combining_mark(c) {
            marks += 1;
            if marks > MAX_MARKS_PER_CHAR {
                continue;
            }
        } else {
            marks = 0;
        }
        out.push(c);
    }
    let trimmed = out.trim();
    if !trimmed.chars().any(char::is_alphanumeric) {
        return Err(invalid(
            "That name has no letter or digit the others could see. Please use a name with at least one letter or digit.".into(),
        ));
    }
    if trimmed.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(format!("That name is too long: use at most {MAX_NAME_CHARS} characters.")));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(name: &str) -> String {
        match normalize_name(name) {
            Ok(n) => panic!("{name:?} was accepted as {n:?}"),
            Err(e) => {
                assert_eq!(e.code, ErrorCode::InvalidName);
                e.message
            }
        }
    }

    #[test]
    fn names_are_trimmed_and_checked() {
        assert_eq!(normalize_name("  Ada Lovelace \n").ok().as_deref(), Some("Ada Lovelace"));
        assert_eq!(normalize_name(&"é".repeat(64)).map(|n| n.chars().count()).ok(), Some(64));
        assert!(refused(&"é".repeat(65)).contains("at most 64"));
        assert!(refused("   ").contains("enter a name"));
        assert!(refused("a\u{7}b").contains("control characters"));
        assert!(refused("a\nb").contains("control characters"));
    }

    #[test]
    fn bidi_overrides_cannot_disguise_a_name() {
        // Shown as "admin" in a left-to-right page if the override were kept.
        assert_eq!(normalize_name("\u{202E}nimda\u{202C}").ok().as_deref(), Some("nimda"));
        assert_eq!(normalize_name("Eve\u{2067}\u{200F}").ok().as_deref(), Some("Eve"));
        // Right-to-left scripts themselves are fine.
        assert_eq!(normalize_name("שלום").ok().as_deref(), Some("שלום"));
    }

    #[test]
    fn an_invisible_name_is_refused_with_a_reason() {
        assert!(refused("\u{200B}\u{2060}\u{200B}").contains("no letter or digit"));
        assert!(refused("\u{FEFF}").contains("no letter or digit"));
        assert!(refused("...").contains("no letter or digit"));
        assert_eq!(normalize_name("A\u{200B}da").ok().as_deref(), Some("Ada"));
    }

    #[test]
    fn stacked_combining_marks_are_capped() {
        let zalgo = format!("Z{}o", "\u{0301}".repeat(40));
        let kept = normalize_name(&zalgo).unwrap_or_default();
        // NFC may fold the first mark into the letter (Z + U+0301 = Ź): at most the cap is left.
        assert!(kept.chars().filter(|&c| is_combining_mark(c)).count() <= MAX_MARKS_PER_CHAR, "{kept:?}");
        assert!(kept.chars().count() <= 2 + MAX_MARKS_PER_CHAR && kept.ends_with('o'), "{kept:?}");
        // Real text keeps its marks: Vietnamese, and Hindi with a conjunct.
        assert_eq!(normalize_name("Nguyễn Thị Ánh").ok().as_deref(), Some("Nguyễn Thị Ánh"));
        assert_eq!(normalize_name("क्षिति").ok().as_deref(), Some("क्षिति"));
    }

    #[test]
    fn names_are_nfc_so_the_same_name_compares_equal() {
        let decomposed = "Ame\u{0301}lie";
        assert_eq!(normalize_name(decomposed).ok().as_deref(), Some("Amélie"));
        assert_eq!(normalize_name(decomposed).ok(), normalize_name("Amélie").ok());
    }
}
