//! The server's templates (mails and hosted pages), compiled into the binary.

use minijinja::Environment;
use serde::Serialize;

/// Each template by its path under `server/templates/`, compiled in.
macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../templates/", $name)))),*]
    };
}

const TEMPLATES: &[(&str, &str)] = templates!(
    "mail/verify_email.txt",
    "mail/verify_email.html",
    "mail/reset_password.txt",
    "mail/reset_password.html",
    "mail/password_changed.txt",
    "mail/password_changed.html",
    "mail/new_sign_in.txt",
    "mail/new_sign_in.html",
    "mail/account_locked.txt",
    "mail/account_locked.html",
    "mail/mfa_enabled.txt",
    "mail/mfa_enabled.html",
    "pages/layout.html",
    "pages/verify_email.html",
    "pages/reset_password.html",
    "pages/forgot_password.html",
    "pages/message.html",
    "pages/login.html",
    "pages/mfa.html",
    "pages/consent.html",
    "pages/logout.html",
);

pub const STYLESHEET: &str = include_str!("../templates/sigil.css");

/// Parsed once at start-up; a broken template stops start-up rather than a request.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    pub fn load() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        // `.html` templates escape HTML, `.txt` ones do not (minijinja's default by name).
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        Ok(Self { env })
    }

    pub fn render<S: Serialize>(&self, name: &str, context: S) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    /// Every file under templates/ is compiled in (a forgotten one would fail at render time).
    #[test]
    fn every_template_file_is_registered() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        for dir in ["mail", "pages"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let name = format!("{dir}/{}", entry.unwrap().file_name().to_string_lossy());
                assert!(
                    TEMPLATES.iter().any(|(n, _)| *n == name),
                    "{name} is not registered"
                );
            }
        }
    }

    /// Every template parses, and HTML ones escape what they are given.
    #[test]
    fn templates_load_and_escape() {
        let t = Templates::load().unwrap();
        let html = t
            .render("mail/verify_email.html", context! { username => "<b>x</b>", link => "https://x/?a=1&b=2", valid_for => "24 hours" })
            .unwrap();
        assert!(
            html.contains("&lt;b&gt;x") && !html.contains("<b>"),
            "{html}"
        );
        let text = t
            .render("mail/verify_email.txt", context! { username => "<b>x</b>", link => "https://x/?a=1&b=2", valid_for => "24 hours" })
            .unwrap();
        assert!(text.contains("<b>x</b>") && text.contains("https://x/?a=1&b=2"));
        let page = t
            .render(
                "pages/message.html",
                context! { heading => "Done", message => "ok", failed => false },
            )
            .unwrap();
        assert!(page.contains("<title>Done · Sigil</title>"));
    }
}
