//! `GET /v1/polls/{id}/results.svg` (anonymous) → the poll's results as an SVG picture,
//! for READMEs, chats and emails, which cannot authenticate: the question, a bar per
//! option with its label, votes and percentage, and the ballot count. Served only when
//! everyone may see the results (`ballot_core::results::read_results` with no caller);
//! any other poll is 404, like one that does not exist, so the picture gives no hint.
//!
//! Every text is XML-escaped; the picture uses presentation attributes only (no script,
//! no style element), so the API's `default-src 'none'` CSP holds. Caching is the JSON
//! results' ETag and lifetimes, `public` since anyone may see them.

use ballot_core::{Error, polls::Results, results::read_results};
use lambda_http::http::header;
use shared::{ApiError, app::App, clock::System, http};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let app = App::start().await?;
    http::serve_with(app.edge(), app.store(), |store, req| async move {
        let poll_id = http::path_id(&req, "id")?;
        let store = &*store;
        let (results, finality) = match read_results(store, store, store, &System, &poll_id, None).await {
            Err(Error::ResultsHidden) => return Err(ApiError::Domain(Error::NotFound)),
            read => read?,
        };
        let cache = format!("public, max-age={}", finality.max_age_secs());
        http::conditional(&req, &results.etag(), &cache, || {
            let mut response = lambda_http::Response::new(lambda_http::Body::Text(picture(&results)));
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8".parse().expect("static"));
            Ok(response)
        })
    })
    .await
}

const WIDTH: u32 = 480;
const LINE: u32 = 20;
/// Characters of the question per line, and lines at most (then an ellipsis).
const QUESTION_LINE: usize = 52;
const QUESTION_LINES: usize = 3;
const FONT: &str = "font-family=\"system-ui, -apple-system, Segoe UI, Roboto, sans-serif\"";

/// `text` safe inside an XML element or a double- or single-quoted attribute.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// `text` in lines of at most `width` characters, broken between words (a longer word is
/// cut), at most `lines` of them, the last ending in `…` when text was left out.
fn wrap(text: &str, width: usize, lines: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let word: String = word.chars().take(width).collect();
        if !current.is_empty() && current.chars().count() + 1 + word.chars().count() > width {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(&word);
    }
    if !current.is_empty() {
        out.push(current);
    }
    if out.len() > lines {
        out.truncate(lines);
        let last = out.last_mut().expect("at least one line");
        let kept: String = last.chars().take(width - 1).collect();
        *last = format!("{kept}…");
    }
    out
}

/// The picture of `results`.
fn picture(results: &Results) -> String {
    let question = &results.question;
    let title = wrap(question, QUESTION_LINE, QUESTION_LINES);
    let top = 16 + LINE * title.len() as u32;
    let row = 44;
    let height = top + row * results.options.len() as u32 + 36;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"{}\">\n",
        escape(question)
    );
    svg.push_str(&format!("<title>{}</title>\n", escape(question)));
    svg.push_str(&format!(
        "<rect width=\"{WIDTH}\" height=\"{height}\" rx=\"8\" fill=\"#ffffff\" stroke=\"#d0d7de\"/>\n"
    ));
    for (i, line) in title.iter().enumerate() {
        let y = 28 + LINE * i as u32;
        svg.push_str(&format!(
            "<text x=\"16\" y=\"{y}\" {FONT} font-size=\"16\" font-weight=\"600\" fill=\"#1f2328\">{}</text>\n",
            escape(line)
        ));
    }
    let bar_width = f64::from(WIDTH - 32);
    for (i, option) in results.options.iter().enumerate() {
        let y = top + row * i as u32;
        let label = wrap(&option.text, 44, 1).pop().unwrap_or_default();
        let filled = (bar_width * option.percent / 100.0).clamp(0.0, bar_width);
        svg.push_str(&format!(
            "<text x=\"16\" y=\"{}\" {FONT} font-size=\"13\" fill=\"#1f2328\">{}</text>\n",
            y + 14,
            escape(&label)
        ));
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" {FONT} font-size=\"13\" fill=\"#59636e\" text-anchor=\"end\">{} ({}%)</text>\n",
            WIDTH - 16,
            y + 14,
            option.votes,
            option.percent
        ));
        svg.push_str(&format!(
            "<rect x=\"16\" y=\"{}\" width=\"{bar_width}\" height=\"10\" rx=\"5\" fill=\"#eaeef2\"/>\n<rect x=\"16\" y=\"{}\" width=\"{filled:.1}\" height=\"10\" rx=\"5\" fill=\"#2f81f7\"/>\n",
            y + 22,
            y + 22
        ));
    }
    let status = if results.status == ballot_core::polls::Status::Closed { " · closed" } else { "" };
    let ballots = if results.total_ballots == 1 { "ballot" } else { "ballots" };
    svg.push_str(&format!(
        "<text x=\"16\" y=\"{}\" {FONT} font-size=\"12\" fill=\"#59636e\">{} {ballots}{status}</text>\n</svg>\n",
        height - 14,
        results.total_ballots
    ));
    svg
}

#[cfg(test)]
mod tests {
    use super::*;
    use ballot_core::polls::{OptionResult, Status};

    fn results(question: &str, texts: &[&str]) -> Results {
        let options = texts
            .iter()
            .enumerate()
            .map(|(i, t)| OptionResult { id: format!("o{i}"), text: (*t).into(), votes: i as u64, percent: 50.0 })
            .collect();
        Results {
            poll_id: "p1".into(),
            question: question.into(),
            status: Status::Open,
            total_ballots: 2,
            options,
            as_of: String::new(),
        }
    }

    #[test]
    fn given_markup_in_the_question_and_options_then_it_is_text_in_the_picture() {
        let svg = picture(&results("<script>&\"'", &["<b>a</b>", "b & c"]));
        assert!(!svg.contains("<script>") && !svg.contains("<b>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;&amp;&quot;&apos;"), "{svg}");
        assert!(svg.contains("b &amp; c"));
    }

    #[test]
    fn given_a_long_question_then_it_wraps_and_ends_in_an_ellipsis() {
        let lines = wrap(&"word ".repeat(100), 20, 3);
        assert_eq!(lines.len(), 3);
        assert!(lines.iter().all(|l| l.chars().count() <= 20), "{lines:?}");
        assert!(lines[2].ends_with('…'));
        assert_eq!(wrap("short one", 20, 3), ["short one"]);
    }
}
