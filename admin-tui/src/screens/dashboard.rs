//! The dashboard: counts from the stats endpoint and a sparkline of logins over time.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline};

use super::{Outcome, failed};
use crate::action::{Reply, Response, Tag};
use crate::api::Stats;
use crate::remote::Remote;
use crate::ui::{Theme, loading};

/// Samples kept for the sparkline: one per refresh.
const RATE_SAMPLES: usize = 60;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct State {
    pub stats: Remote<Stats>,
    /// Logins in the last hour, one sample per refresh, for the sparkline.
    pub login_rate: Vec<u64>,
}

impl State {
    pub fn on_reply(&mut self, tag: Tag, reply: Reply) -> Outcome {
        match reply {
            Ok(Response::Stats(stats)) => {
                let logins = stats.logins_last_hour;
                if self.stats.settle(tag.seq, stats) {
                    self.login_rate.push(logins);
                    let excess = self.login_rate.len().saturating_sub(RATE_SAMPLES);
                    self.login_rate.drain(..excess);
                }
                Outcome::default()
            }
            Ok(_) => Outcome::default(),
            Err(error) => failed(&mut self.stats, tag, &error),
        }
    }

    pub fn view(&self, theme: &Theme, frame: &mut Frame, area: Rect) {
        let block = Block::default().borders(Borders::ALL).title(" Dashboard ");
        let Some(stats) = self.stats.ready() else {
            frame.render_widget(
                Paragraph::new(loading(&self.stats.data).unwrap_or_default()).block(block),
                area,
            );
            return;
        };
        let [numbers, chart] =
            Layout::vertical([Constraint::Length(9), Constraint::Min(3)]).areas(area);
        let users = |k: &str| stats.users.get(k).copied().unwrap_or(0);
        let row = |label: &'static str, text: String| {
            Line::from(vec![Span::styled(label, theme.accent()), Span::raw(text)])
        };
        let lines = vec![
            row(
                "Users      ",
                format!(
                    "{} total: {} active, {} pending, {} suspended, {} deleted",
                    users("total"),
                    users("active"),
                    users("pending"),
                    users("suspended"),
                    users("deleted")
                ),
            ),
            row("Sessions   ", format!("{} active", stats.active_sessions)),
            row(
                "Logins     ",
                format!(
                    "{} last hour, {} last day",
                    stats.logins_last_hour, stats.logins_last_day
                ),
            ),
            row(
                "Failures   ",
                format!(
                    "{} last hour, {} last day",
                    stats.failures_last_hour, stats.failures_last_day
                ),
            ),
            row(
                "Lockouts   ",
                format!("{} last day", stats.lockouts_last_day),
            ),
            Line::raw(""),
            Line::styled("Refreshes every few seconds.", theme.dim()),
        ];
        frame.render_widget(Paragraph::new(lines).block(block), numbers);
        let spark = Sparkline::default()
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(" Logins in the last hour, over time "),
            )
            .data(self.login_rate.iter().copied())
            .style(theme.accent());
        frame.render_widget(spark, chart);
    }
}
