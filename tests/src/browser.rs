//! A minimal browser for the hosted pages: keeps cookies, never follows redirects (so the
//! test sees every Location), reads hidden form fields.

use reqwest::StatusCode;
use reqwest::header::LOCATION;

pub struct Browser {
    client: reqwest::Client,
    jar: std::sync::Arc<reqwest::cookie::Jar>,
    pub base: String,
}

/// One page load.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
}

impl Page {
    /// The value of `<input ... name="NAME" value="...">`.
    pub fn field(&self, name: &str) -> Option<String> {
        let marker = format!(r#"name="{name}" value=""#);
        let start = self.body.find(&marker)? + marker.len();
        let end = self.body[start..].find('"')? + start;
        Some(html_unescape(&self.body[start..end]))
    }

    /// The query parameter of the Location header.
    pub fn location_param(&self, name: &str) -> Option<String> {
        let location = url::Url::parse(self.location.as_deref()?).ok()?;
        location
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

fn html_unescape(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

impl Browser {
    pub fn new(base: &str) -> Self {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        Self {
            client: reqwest::Client::builder()
                .cookie_provider(jar.clone())
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("browser client"),
            jar,
            base: base.to_owned(),
        }
    }

    /// The value of a cookie the server set, as the browser would send it back.
    pub fn cookie(&self, name: &str) -> Option<String> {
        use reqwest::cookie::CookieStore;
        let url = url::Url::parse(&self.base).ok()?;
        let header = self.jar.cookies(&url)?;
        header.to_str().ok()?.split("; ").find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key == name).then(|| value.to_owned())
        })
    }

    /// Sets a cookie as a sibling site or an attacker with the browser in hand could.
    pub fn plant_cookie(&self, name: &str, value: &str) {
        let url = url::Url::parse(&self.base).expect("base URL");
        self.jar
            .add_cookie_str(&format!("{name}={value}; Path=/"), &url);
    }

    fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            format!("{}{url}", self.base)
        } else {
            url.to_owned()
        }
    }

    async fn page(response: reqwest::Response) -> Page {
        let status = response.status();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Page {
            status,
            location,
            body: response.text().await.expect("body"),
        }
    }

    pub async fn get(&self, url: &str) -> Page {
        Self::page(
            self.client
                .get(self.absolute(url))
                .send()
                .await
                .expect("GET"),
        )
        .await
    }

    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> Page {
        Self::page(
            self.client
                .post(self.absolute(url))
                .form(form)
                .send()
                .await
                .expect("POST"),
        )
        .await
    }

    /// Follows redirects within the server (relative or same-origin) until a page or a
    /// redirect elsewhere; returns the last response.
    pub async fn follow(&self, mut page: Page) -> Page {
        for _ in 0..10 {
            let Some(location) = page.location.clone() else {
                return page;
            };
            if !(location.starts_with('/') || location.starts_with(&self.base)) {
                return page;
            }
            page = self.get(&location).await;
        }
        page
    }

    /// Signs in on the login page `page` shows (following to it first).
    pub async fn sign_in(&self, page: Page, login: &str, password: &str) -> Page {
        let page = self.follow(page).await;
        assert!(
            page.body.contains(r#"action="/login""#),
            "not a login page: {}",
            page.body
        );
        let csrf = page.field("csrf").expect("csrf field");
        let request = page.field("request").unwrap_or_default();
        self.post(
            "/login",
            &[
                ("csrf", &csrf),
                ("request", &request),
                ("login", login),
                ("password", password),
            ],
        )
        .await
    }

    /// Presses "Allow" on the consent page `page` shows.
    pub async fn consent(&self, page: Page, decision: &str) -> Page {
        let page = self.follow(page).await;
        assert!(
            page.body.contains(r#"action="/consent""#),
            "not a consent page: {}",
            page.body
        );
        let csrf = page.field("csrf").expect("csrf");
        let request = page.field("request").expect("request");
        self.post(
            "/consent",
            &[
                ("csrf", &csrf),
                ("request", &request),
                ("decision", decision),
            ],
        )
        .await
    }
}
