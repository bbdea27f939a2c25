//! `view(&State, &mut Frame)`: everything the console draws, from the state alone.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Sparkline, Table, Wrap};

use crate::app::{InputKind, Loadable, Screen, State};

const SPINNER: [&str; 4] = ["|", "/", "-", "\\"];

/// Colours unless `NO_COLOR` asked for none; emphasis always.
struct Theme {
    color: bool,
}

impl Theme {
    fn accent(&self) -> Style {
        let s = Style::new().add_modifier(Modifier::BOLD);
        if self.color { s.fg(Color::Cyan) } else { s }
    }
    fn selected(&self) -> Style {
        if self.color {
            Style::new().bg(Color::Blue).fg(Color::White)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }
    fn error(&self) -> Style {
        let s = Style::new().add_modifier(Modifier::BOLD);
        if self.color { s.fg(Color::Red) } else { s }
    }
    fn dim(&self) -> Style {
        Style::new().add_modifier(Modifier::DIM)
    }
}

pub fn view(state: &State, frame: &mut Frame) {
    let theme = Theme { color: state.color };
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    if !state.signed_in {
        sign_in(state, &theme, frame, body);
    } else {
        tabs(state, &theme, frame, header);
        match state.screen {
            Screen::Dashboard => dashboard(state, &theme, frame, body),
            Screen::Users => users(state, &theme, frame, body),
            Screen::Clients => clients(state, &theme, frame, body),
            Screen::Keys => keys(state, &theme, frame, body),
            Screen::Audit => audit(state, &theme, frame, body),
            Screen::Resources => resources(state, &theme, frame, body),
        }
    }
    status_line(state, &theme, frame, footer);
    if state.help {
        help(frame);
    }
    if let Some(confirm) = &state.confirm {
        popup(
            frame,
            "Confirm",
            &format!("{}\n\n[y] yes   [n] no", confirm.prompt),
            60,
            7,
        );
    }
    if let Some(input) = &state.input {
        let text = match input.kind {
            InputKind::Password { .. } => "•".repeat(input.text.chars().count()),
            _ => input.text.clone(),
        };
        popup(
            frame,
            &input.prompt,
            &format!("{text}_\n\n[Enter] apply   [Esc] cancel"),
            70,
            6,
        );
    }
    if let Some((name, secret)) = &state.revealed_secret {
        popup(
            frame,
            "Client secret (shown once)",
            &format!(
                "{name}\n\n{secret}\n\nCopy it now (select with the mouse, or shift+drag in most terminals); it is not shown again.\n[Enter] done"
            ),
            74,
            10,
        );
    }
}

fn tabs(state: &State, theme: &Theme, frame: &mut Frame, area: Rect) {
    let mut spans = vec![Span::styled(" Sigil ", theme.accent())];
    for (i, screen) in Screen::ALL.iter().enumerate() {
        let label = format!(" {} {} ", i + 1, screen.title());
        spans.push(if *screen == state.screen {
            Span::styled(label, theme.selected())
        } else {
            Span::raw(label)
        });
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn status_line(state: &State, theme: &Theme, frame: &mut Frame, area: Rect) {
    let spinner = if state.pending > 0 {
        SPINNER[state.spinner % SPINNER.len()]
    } else {
        " "
    };
    let line = match &state.status {
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

fn loading<T>(value: &Loadable<T>) -> Option<String> {
    match value {
        Loadable::Idle | Loadable::Loading => Some("Loading…".into()),
        Loadable::Failed(message) => Some(format!("Could not load: {message}")),
        Loadable::Ready(_) => None,
    }
}

fn sign_in(state: &State, theme: &Theme, frame: &mut Frame, area: Rect) {
    let height = if state.sign_in.needs_totp { 11 } else { 9 };
    let area = centered(area, 56, height);
    let form = &state.sign_in;
    let field = |label: &str, value: String, index: usize| {
        let marker = if form.focus == index { ">" } else { " " };
        Line::from(vec![
            Span::styled(
                format!("{marker} {label:<10}"),
                if form.focus == index {
                    theme.accent()
                } else {
                    Style::new()
                },
            ),
            Span::raw(value),
        ])
    };
    let mut lines = vec![
        Line::from(format!("Server: {}", state.server)),
        Line::raw(""),
        field("Login", form.login.clone(), 0),
        field("Password", "*".repeat(form.password.chars().count()), 1),
    ];
    if form.needs_totp {
        lines.push(field("Code", form.totp.clone(), 2));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        if form.busy {
            "Signing in…"
        } else {
            "[Tab] next field  [Enter] sign in  [Esc] quit"
        },
        theme.dim(),
    ));
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Sign in to Sigil "),
        ),
        area,
    );
}

fn dashboard(state: &State, theme: &Theme, frame: &mut Frame, area: Rect) {
    let block = Block::default().borders(Borders::ALL).title(" Dashboard ");
    let Some(stats) = state.stats.ready() else {
        frame.render_widget(
            Paragraph::new(loading(&state.stats).unwrap_or_default()).block(block),
            area,
        );
        return;
    };
    let [numbers, chart] =
        Layout::vertical([Constraint::Length(9), Constraint::Min(3)]).areas(area);
    let users = |k: &str| stats.users.get(k).copied().unwrap_or(0);
    let lines = vec![
        Line::from(vec![
            Span::styled("Users      ", theme.accent()),
            Span::raw(format!(
                "{} total: {} active, {} pending, {} suspended, {} deleted",
                users("total"),
                users("active"),
                users("pending"),
                users("suspended"),
                users("deleted")
            )),
        ]),
        Line::from(vec![
            Span::styled("Sessions   ", theme.accent()),
            Span::raw(format!("{} active", stats.active_sessions)),
        ]),
        Line::from(vec![
            Span::styled("Logins     ", theme.accent()),
            Span::raw(format!(
                "{} last hour, {} last day",
                stats.logins_last_hour, stats.logins_last_day
            )),
        ]),
        Line::from(vec![
            Span::styled("Failures   ", theme.accent()),
            Span::raw(format!(
                "{} last hour, {} last day",
                stats.failures_last_hour, stats.failures_last_day
            )),
        ]),
        Line::from(vec![
            Span::styled("Lockouts   ", theme.accent()),
            Span::raw(format!("{} last day", stats.lockouts_last_day)),
        ]),
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
        .data(state.login_rate.iter().copied())
        .style(theme.accent());
    frame.render_widget(spark, chart);
}

fn users(state: &State, theme: &Theme, frame: &mut Frame, area: Rect) {
    let filter = state
        .user_query
        .status
        .clone()
        .unwrap_or_else(|| "all".into());
    let search = if state.user_query.search.is_empty() {
        String::new()
    } else {
        format!(" search \"{}\"", state.user_query.search)
    };
    let title = match state.users.ready() {
        Some(p) => format!(
            " Users: {filter}{search}, page {}/{} ({} total) ",
            p.pagination.page,
            p.pagination.pages.max(1),
            p.pagination.total
        ),
        None => format!(" Users: {filter}{search} "),
    };
    let (list_area, detail_area) = if state.detail_open {
        let [a, b] =
            Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area);
        (a, Some(b))
    } else {
        (area, None)
    };
    let block = Block::default().borders(Borders::ALL).title(title);
    match state.users.ready() {
        None => frame.render_widget(
            Paragraph::new(loading(&state.users).unwrap_or_default()).block(block),
            list_area,
        ),
        Some(page) => {
            let rows = page.users.iter().enumerate().map(|(i, u)| {
                let mut flags = String::new();
                if u.mfa_enabled {
                    flags.push('M');
                }
                if u.locked_until.is_some() {
                    flags.push('L');
                }
                let row = Row::new(vec![
                    Cell::from(u.username.clone()),
                    Cell::from(u.email.clone()),
                    Cell::from(u.status.clone()),
                    Cell::from(u.roles.join(",")),
                    Cell::from(flags),
                ]);
                if i == state.selected_user {
                    row.style(theme.selected())
                } else {
                    row
                }
            });
            let table = Table::new(
                rows,
                [
                    Constraint::Percentage(22),
                    Constraint::Percentage(40),
                    Constraint::Length(10),
                    Constraint::Percentage(20),
                    Constraint::Length(3),
                ],
            )
            .header(
                Row::new(vec!["Username", "Email", "Status", "Roles", ""]).style(theme.accent()),
            )
            .block(block);
            frame.render_widget(table, list_area);
        }
    }
    if let Some(area) = detail_area {
        user_detail(state, theme, frame, area);
    }
}

fn user_detail(state: &State, theme: &Theme, frame: &mut Frame, area: Rect) {
    let Some(user) = state
        .users
        .ready()
        .and_then(|p| p.users.get(state.selected_user))
    else {
        return;
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled("Id ", theme.accent()),
            Span::raw(user.id.clone()),
        ]),
        Line::from(format!(
            "Created {}  last login {}",
            user.created_at,
            user.last_login.clone().unwrap_or_else(|| "never".into())
        )),
        Line::from(format!(
            "MFA {}  email verified {}  locked until {}",
            if user.mfa_enabled { "on" } else { "off" },
            if user.email_verified { "yes" } else { "no" },
            user.locked_until.clone().unwrap_or_else(|| "-".into())
        )),
        Line::styled(
            "s suspend  a activate  e roles  u unlock  m reset MFA  x revoke sessions  d delete",
            theme.dim(),
        ),
    ];
    match &state.user_sessions {
        Loadable::Ready(sessions) if sessions.is_empty() => lines.push(Line::raw("No sessions.")),
        Loadable::Ready(sessions) => {
            for s in sessions {
                let device = format!(
                    "{} on {}",
                    s.device["browser"].as_str().unwrap_or("?"),
                    s.device["os"].as_str().unwrap_or("?")
                );
                lines.push(Line::raw(format!(
                    "• {} {} {} {}",
                    s.client_id,
                    device,
                    s.ip.clone().unwrap_or_default(),
                    s.last_activity
                )));
            }
        }
        other => lines.push(Line::raw(loading(other).unwrap_or_default())),
    }
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(
            Block::default()
                .borders(Borders::ALL)
                .title(format!(" {} ", user.username)),
        ),
        area,
    );
}

fn clients(state: &State, theme: &Theme, frame: &mut Frame, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" Clients  (c create  R rotate secret  d delete) ");
    let Some(list) = state.clients.ready() else {
        frame.render_widget(
            Paragraph::new(loading(&state.clients).unwrap_or_default()).block(block),
            area,
        );
        return;
    };
    let rows = list.iter().enumerate().map(|(i, c)| {
        let row = Row::new(vec![
            Cell::from(c.name.clone()),
            Cell::from(c.client_id.clone()),
            Cell::from(c.client_type.clone()),
            Cell::from(if c.first_party { "first-party" } else { "" }),
            Cell::from(c.redirect_uris.first().cloned().unwrap_or_default()),
        ]);
        if i == state.selected_client {
            row.style(theme.selected())
        } else {
            row
        }
    });
    let table = Table::new(
        rows,
        [
            Constraint::Percentage(20),
            Constraint::Length(24),
            Constraint::Length(13),
            Constraint::Length(12),
            Constraint::Min(10),
        ],
    )
    .header(Row::new(vec!["Name", "Client id", "Type", "", "Redirect URI"]).style(theme.accent()))
    .block(block);
    frame.render_widget(table, area);
}

fn resources(state: &State, theme: &Theme, frame: &mut Frame, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" API resources  (c create  d delete) ");
    let Some(list) = state.resources.ready() else {
        frame.render_widget(
            Paragraph::new(loading(&state.resources).unwrap_or_default()).block(block),
            area,
        );
        return;
    };
    let rows = list.iter().enumerate().map(|(i, r)| {
        let row = Row::new(vec![
            Cell::from(r.name.clone()),
            Cell::from(r.identifier.clone()),
            Cell::from(r.scopes.join(" ")),
        ]);
        if i == state.selected_resource {
            row.style(theme.selected())
        } else {
            row
        }
    });
    let table = Table::new(
        rows,
        [
            Constraint::Percentage(20),
            Constraint::Percentage(40),
            Constraint::Min(10),
        ],
    )
    .header(Row::new(vec!["Name", "Identifier (aud)", "Scopes"]).style(theme.accent()))
    .block(block);
    frame.render_widget(table, area);
}

fn keys(state: &State, theme: &Theme, frame: &mut Frame, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" Signing keys  (R rotate  X emergency rotation) ");
    let Some(list) = state.keys.ready() else {
        frame.render_widget(
            Paragraph::new(loading(&state.keys).unwrap_or_default()).block(block),
            area,
        );
        return;
    };
    let rows = list.iter().map(|k| {
        let row = Row::new(vec![
            Cell::from(k.generation.to_string()),
            Cell::from(k.kid.clone()),
            Cell::from(k.state.clone()),
            Cell::from(k.activate_at.clone()),
        ]);
        if k.state == "active" {
            row.style(theme.accent())
        } else {
            row
        }
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(4),
            Constraint::Min(20),
            Constraint::Length(9),
            Constraint::Length(21),
        ],
    )
    .header(Row::new(vec!["Gen", "Kid", "State", "Signs from"]).style(theme.accent()))
    .block(block);
    frame.render_widget(table, area);
}

fn audit(state: &State, theme: &Theme, frame: &mut Frame, area: Rect) {
    let filter = if state.audit_filter.is_empty() {
        "all events".to_owned()
    } else {
        state.audit_filter.clone()
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" Audit: {filter}  (/ filter, follows new events) "));
    let Some(events) = state.audit.ready() else {
        frame.render_widget(
            Paragraph::new(loading(&state.audit).unwrap_or_default()).block(block),
            area,
        );
        return;
    };
    let rows = events.iter().map(|e| {
        Row::new(vec![
            Cell::from(e.at.chars().take(19).collect::<String>()),
            Cell::from(e.action.clone()),
            Cell::from(
                e.actor_id
                    .clone()
                    .map(|a| a.chars().take(8).collect::<String>())
                    .unwrap_or_else(|| "-".into()),
            ),
            Cell::from(e.ip.clone().unwrap_or_default()),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(20),
            Constraint::Min(20),
            Constraint::Length(9),
            Constraint::Length(16),
        ],
    )
    .header(Row::new(vec!["Time", "Event", "Actor", "IP"]).style(theme.accent()))
    .block(block);
    frame.render_widget(table, area);
}

fn help(frame: &mut Frame) {
    let text = [
        "1-6, Tab   switch screen (Dashboard, Users, Clients, Keys, Audit, Resources)",
        "r          refresh            ?  this help          q  back / quit",
        "Users      ↑↓ / j k select   ←→ / h l page   / search   f status filter",
        "           Enter details   s suspend   a activate   e roles   u unlock",
        "           m reset MFA   x revoke sessions   d delete",
        "Clients    c create   R rotate secret   d delete",
        "Keys       R rotate   X emergency rotation (revokes the active key)",
        "Audit      / filter by event type",
        "Resources  c create   d delete",
        "Dialogs    y / Enter confirm   n / Esc cancel",
    ]
    .join("\n");
    popup(frame, "Key bindings", &text, 78, 13);
}

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [cell] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(row);
    cell
}

fn popup(frame: &mut Frame, title: &str, text: &str, width: u16, height: u16) {
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
