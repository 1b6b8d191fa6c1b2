//! Progress bars on stderr for anything that can take more than a second.
//! indicatif draws nothing when stderr is not a terminal, so scripts and
//! `--json` output stay clean.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar counting messages, labelled `what`.
pub fn messages(what: &str) -> ProgressBar {
    bar(what, "messages")
}

/// A bar counting conversations, labelled `what`.
pub fn conversations(what: &str) -> ProgressBar {
    bar(what, "conversations")
}

fn bar(what: &str, unit: &str) -> ProgressBar {
    let bar = ProgressBar::new(0);
    let template = format!("{what:>10} [{{bar:40}}] {{human_pos}}/{{human_len}} {unit} ({{eta}} left)");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// A spinner with a message, for work that reports no progress.
pub fn spinner(what: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner().with_message(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}
