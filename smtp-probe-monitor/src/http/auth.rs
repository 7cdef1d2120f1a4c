//! Who may read what: HTTP Basic or a bearer token, checked in constant time, per [`Area`].
//!
//! Credentials are compared as SHA-256 digests with `subtle`'s constant-time equality, so neither the content nor
//! the length of a guess shows in the answer's timing. A refused request gets a 401 with `WWW-Authenticate` for
//! each scheme configured, and no hint of which part was wrong.

use std::collections::BTreeSet;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{Area, HttpConfig};

/// Who a request was let in as (for an acknowledgement's "by").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Identity {
    /// Nothing is configured, or the area is public.
    Anonymous,
    /// The Basic-auth user.
    User(String),
    /// The bearer token's holder.
    Token,
}

impl Identity {
    /// A name for records.
    pub(crate) fn name(&self) -> &str {
        match self {
            Identity::Anonymous => "anonymous",
            Identity::User(u) => u,
            Identity::Token => "api token",
        }
    }
}

/// The credentials, as digests.
#[derive(Clone)]
pub(crate) struct Guard {
    /// SHA-256 of `user:password`, and the user.
    basic: Option<([u8; 32], String)>,
    /// SHA-256 of the token.
    bearer: Option<[u8; 32]>,
    public: BTreeSet<Area>,
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl Guard {
    pub(crate) fn new(config: &HttpConfig) -> Guard {
        Guard {
            basic: config
                .auth
                .basic
                .as_ref()
                .map(|b| (digest(format!("{}:{}", b.username, b.password.expose()).as_bytes()), b.username.clone())),
            bearer: config.auth.bearer.as_ref().map(|t| digest(t.expose().as_bytes())),
            public: config.public.clone(),
        }
    }

    /// Who the request is, or `None` when it must be refused.
    pub(crate) fn admit(&self, area: Area, headers: &HeaderMap) -> Option<Identity> {
        if self.basic.is_none() && self.bearer.is_none() {
            return Some(Identity::Anonymous);
        }
        let presented = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::trim);
        if let Some(value) = presented {
            let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
            let credentials = credentials.trim();
            if scheme.eq_ignore_ascii_case("basic")
                && let Some((expected, user)) = &self.basic
                && let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(credentials)
                && bool::from(digest(&decoded).ct_eq(expected))
            {
                return Some(Identity::User(user.clone()));
            }
            if scheme.eq_ignore_ascii_case("bearer")
                && let Some(expected) = &self.bearer
                && bool::from(digest(credentials.as_bytes()).ct_eq(expected))
            {
                return Some(Identity::Token);
            }
        }
        self.public.contains(&area).then_some(Identity::Anonymous)
    }

    fn refusal(&self) -> Response {
        let mut response = (StatusCode::UNAUTHORIZED, "credentials are needed for this page\n").into_response();
        if self.basic.is_some() {
            response.headers_mut().append(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"smtp-probe-monitor\", charset=\"UTF-8\""),
            );
        }
        if self.bearer.is_some() {
            response
                .headers_mut()
                .append(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"smtp-probe-monitor\""));
        }
        response
    }
}

/// The middleware for one area: lets the request through with its [`Identity`] as an extension, or answers 401.
pub(crate) async fn require(State((guard, area)): State<(Guard, Area)>, mut request: Request, next: Next) -> Response {
    match guard.admit(area, request.headers()) {
        Some(identity) => {
            request.extensions_mut().insert(identity);
            next.run(request).await
        }
        None => guard.refusal(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BasicAuth, HttpAuth, Secret};

    fn config(basic: bool, bearer: bool, public: &[Area]) -> HttpConfig {
        HttpConfig {
            auth: HttpAuth {
                basic: basic
                    .then(|| BasicAuth { username: "ops".into(), password: Secret::from("pa:ss wörd".to_owned()) }),
                bearer: bearer.then(|| Secret::from("0123456789abcdef-token".to_owned())),
            },
            public: public.iter().copied().collect(),
            ..HttpConfig::default()
        }
    }

    fn headers(authorization: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(authorization).unwrap());
        h
    }

    fn basic(user_pass: &str) -> HeaderMap {
        headers(&format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user_pass)))
    }

    #[test]
    fn nothing_configured_lets_everyone_in() {
        let guard = Guard::new(&config(false, false, &[]));
        assert_eq!(guard.admit(Area::Api, &HeaderMap::new()), Some(Identity::Anonymous));
    }

    #[test]
    fn basic_and_bearer() {
        let guard = Guard::new(&config(true, true, &[Area::Healthz]));
        assert_eq!(guard.admit(Area::Page, &basic("ops:pa:ss wörd")), Some(Identity::User("ops".into())));
        assert_eq!(guard.admit(Area::Api, &headers("Bearer 0123456789abcdef-token")), Some(Identity::Token));
        assert_eq!(guard.admit(Area::Api, &headers("bearer   0123456789abcdef-token ")), Some(Identity::Token));
        for refused in [
            basic("ops:pa:ss word"),
            basic("Ops:pa:ss wörd"),
            basic("ops:pa:ss wörd "),
            headers("Bearer 0123456789abcdef-toke"),
            headers("Basic !!!"),
            headers("Digest x"),
            headers("Bearer"),
            HeaderMap::new(),
        ] {
            assert_eq!(guard.admit(Area::Metrics, &refused), None, "{refused:?}");
        }
        // The token is not a Basic password, nor the reverse.
        assert_eq!(guard.admit(Area::Api, &headers("Basic 0123456789abcdef-token")), None);
        assert_eq!(guard.admit(Area::Api, &headers("Bearer ops:pa:ss wörd")), None);
        assert_eq!(guard.admit(Area::Healthz, &HeaderMap::new()), Some(Identity::Anonymous), "public");
        let refusal = guard.refusal();
        assert_eq!(refusal.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(refusal.headers().get_all(header::WWW_AUTHENTICATE).iter().count(), 2);
    }
}
