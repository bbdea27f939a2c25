//! `view(&App, &mut Frame)`: the frame around the screens (tabs, status line) and the overlay
//! on top, drawn from the state alone; each screen draws its own body.

mod theme;
mod widgets;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub use theme::Theme;
pub use widgets::{centered, loading, popup, timestamp};

use crate::app::App;
use crate::screens::Screen;

const SPINNER: [&str; 4] = ["|", "/", "-", "\\"];

pub fn view(app: &App, frame: &mut Frame) {
    let theme = Theme { color: app.color };
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    if !app.signed_in {
        app.screens.sign_in.view(&app.server, &theme, frame, body);
    } else {
        tabs(app, &theme, frame, header);
        app.screens.view(app.screen, &theme, frame, body);
    }
    status_line(app, &theme, frame, footer);
    app.overlay.view(frame);
}

fn tabs(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let mut spans = vec![Span::styled(" Sigil ", theme.accent())];
    for (i, screen) in Screen::ALL.iter().enumerate() {
        let label = format!(" {} {} ", i + 1, screen.title());
        spans.push(if *screen == app.screen {
            Span::styled(label, theme.selected())
        } else {
            Span::raw(label)
        });
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn status_line(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let spinner = if app.pending > 0 {
        SPINNER[app.spinner % SPINNER.len()]
    } else {
        " "
    };
    let line = match &app.status {
        Some((message, true)) => Line::from(vec![
            Span::raw(format!("{spinner} ")),
            Span::styled(message.clone(), theme.error()),
        ]),
        Some((message, false)) => Line::from(format!("{spinner} {message}")),
        None => Line::from(vec![
            Span::raw(format!("{spinner} ")),
            Span::styled("? help  q quit", theme.dim()),
        ]),
    };
    frame.render_widget(Paragraph::new(line), area);
}
