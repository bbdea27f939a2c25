//! Pieces every screen draws with: a centred box, a popup, the "still loading" line.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::remote::Loadable;

/// What a pane shows instead of its data, or `None` once the data is there.
pub fn loading<T>(value: &Loadable<T>) -> Option<String> {
    match value {
        Loadable::Idle | Loadable::Loading => Some("Loading…".into()),
        Loadable::Failed(message) => Some(format!("Could not load: {message}")),
        Loadable::Ready(_) => None,
    }
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
