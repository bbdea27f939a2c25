//! Styles, in colour unless `NO_COLOR` asked for none; emphasis always.

use ratatui::style::{Color, Modifier, Style};

pub struct Theme {
    pub color: bool,
}

impl Theme {
    pub fn accent(&self) -> Style {
        let s = Style::new().add_modifier(Modifier::BOLD);
        if self.color { s.fg(Color::Cyan) } else { s }
    }
    pub fn selected(&self) -> Style {
        if self.color {
            Style::new().bg(Color::Blue).fg(Color::White)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }
    pub fn error(&self) -> Style {
        let s = Style::new().add_modifier(Modifier::BOLD);
        if self.color { s.fg(Color::Red) } else { s }
    }
    pub fn dim(&self) -> Style {
        Style::new().add_modifier(Modifier::DIM)
    }
}
