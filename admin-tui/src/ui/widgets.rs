//! Pieces every screen draws with: a centred box, a popup, the "still loading" line, a time.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::remote::Loadable;

/// What a pane shows instead of its data, or `None` once the data is there.
pub fn loading<T>(value: &Loadable<T>) -> Option<String> {
    match value {
        Loadable::Idle | Loadable::Loading => Some("Loading…".into()),
        Loadable::Failed(message) => Some(format!("Could not load: {message}")),
        Loadable::Ready(_) => None,
    }
}

/// A time as the server wrote it (RFC 3339), so what the operator reads matches the logs and
/// the API. Only a year past 9999 fails to format, and then nothing is better than a guess.
pub fn timestamp(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [cell] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(row);
    cell
}

pub fn popup(frame: &mut Frame, title: &str, text: &str, width: u16, height: u16) {
    let area = centered(frame.area(), width, height);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(text.to_owned())
            .wrap(Wrap { trim: false })
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(format!(" {title} ")),
            ),
        area,
    );
}
