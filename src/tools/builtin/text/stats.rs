//! The `stats` action: counts of characters, words, sentences and
//! paragraphs, reading time and the most frequent words.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::READING_WPM;

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '\'' || c == '’'
}

pub(super) fn stats(text: &str) -> Value {
    let characters = text.chars().count();
    let characters_no_spaces = text.chars().filter(|c| !c.is_whitespace()).count();
    let words: Vec<&str> = text.split_whitespace().collect();
    let word_count = words.len();
    let lines = if text.is_empty() {
        0
    } else {
        text.lines().count()
    };
    let paragraphs = text
        .split("\n\n")
        .flat_map(|block| block.split("\r\n\r\n"))
        .filter(|p| !p.trim().is_empty())
        .count();

    // A sentence ends at a run of . ! ? followed by whitespace or the end; trailing
    // words without a terminator still make one.
    let mut sentences = 0;
    let mut in_sentence = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if matches!(c, '.' | '!' | '?') {
            while matches!(chars.peek(), Some('.' | '!' | '?')) {
                chars.next();
            }
            if in_sentence
                && chars
                    .peek()
                    .is_none_or(|n| n.is_whitespace() || matches!(n, '"' | '\'' | ')'))
            {
                sentences += 1;
                in_sentence = false;
            }
        } else if c.is_alphanumeric() {
            in_sentence = true;
        }
    }
    if in_sentence {
        sentences += 1;
    }

    let mut frequency: HashMap<String, usize> = HashMap::new();
    let mut letters = 0usize;
    for word in &words {
        let cleaned: String = word
            .trim_matches(|c: char| !is_word_char(c))
            .chars()
            .flat_map(char::to_lowercase)
            .collect();
        if !cleaned.is_empty() {
            letters += cleaned.chars().count();
            *frequency.entry(cleaned).or_default() += 1;
        }
    }
    let unique_words = frequency.len();
    let mut top: Vec<(String, usize)> = frequency.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top.truncate(10);
    let reading_minutes = word_count as f64 / READING_WPM;

    json!({
        "characters": characters,
        "characters_no_spaces": characters_no_spaces,
        "bytes": text.len(),
        "words": word_count,
        "unique_words": unique_words,
        "lines": lines,
        "sentences": sentences,
        "paragraphs": paragraphs,
        "average_word_length": if word_count == 0 { 0.0 } else { (letters as f64 / word_count as f64 * 100.0).round() / 100.0 },
        "reading_time_seconds": (reading_minutes * 60.0).round() as u64,
        "reading_time_minutes": (reading_minutes * 10.0).round() / 10.0,
        "top_words": top.into_iter().map(|(word, count)| json!({"word": word, "count": count})).collect::<Vec<_>>(),
    })
}
