//! The HTTP edge (SPEC §8): `/metrics`, `/healthz`, `/readyz`, read-only JSON queries
//! under `/v1` and the tutor page `/tutors/{id}`. It runs on its own small runtime and
//! reaches the engine only through [`crate::query`]: a slow client never touches the
//! pipeline thread.

mod page;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::{Path, Query as UrlQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use crate::config::HttpConfig;
use crate::metrics::Metrics;
use crate::model::{GroupId, MemberId, TutorId};
use crate::query::{Answer, Query, QueryClient, QueryError};

/// Largest `?limit=` a tutor query may ask for.
const MAX_AT_RISK_LIMIT: usize = 1_000;

/// Readiness, as the pipeline sees it: partitions assigned, restored and caught up.
#[derive(Clone, Debug, Default)]
pub struct Health {
    ready: Arc<AtomicBool>,
}

impl Health {
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    health: Health,
    queries: QueryClient,
    token: Option<Arc<str>>,
    query_timeout: Duration,
    at_risk_limit: usize,
}

/// A bound, not yet serving, HTTP server. Binding happens at start so that a port in use
/// is an error before any input is consumed.
pub struct Server {
    listener: std::net::TcpListener,
    router: Router,
}

/// Binds `config.bind` and prepares the routes.
pub fn bind(
    config: &HttpConfig,
    metrics: Arc<Metrics>,
    health: Health,
    queries: QueryClient,
) -> anyhow::Result<Server> {
    let listener = std::net::TcpListener::bind(&config.bind)
        .with_context(|| format!("binding the HTTP server to {}", config.bind))?;
    listener.set_nonblocking(true)?;
    let state = AppState {
        metrics,
        health,
        queries,
        token: config.token.as_deref().map(Arc::from),
        query_timeout: Duration::from_millis(
            u64::try_from(config.query_timeout.as_millis()).unwrap_or(5_000),
        ),
        at_risk_limit: config.at_risk_limit,
    };
    Ok(Server {
        listener,
        router: router(state),
    })
}

impl Server {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the runtime it runs on stops.
    pub async fn serve(self) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::from_std(self.listener)?;
        axum::serve(listener, self.router).await
    }
}

fn router(state: AppState) -> Router {
    let protected = Router::new()
        .route("/v1/members/{id}", get(member))
        .route("/v1/groups/{id}", get(group))
        .route("/v1/tutors/{id}/at-risk", get(at_risk))
        .route("/tutors/{id}", get(tutor_page))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(protected)
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint".to_owned()) })
        .with_state(state)
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// Compares without an early exit, so the time taken does not tell how much of a guess
/// was right.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(token) = state.token.as_deref() else {
        return next.run(request).await;
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        Some(p) if same_secret(p.as_bytes(), token.as_bytes()) => next.run(request).await,
        _ => {
            let mut response = error(
                StatusCode::UNAUTHORIZED,
                "a bearer token is required".to_owned(),
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"churnwatch\""),
            );
            response
        }
    }
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.health.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: partitions not yet assigned, or state still being restored\n",
        )
            .into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn ask(state: &AppState, query: Query) -> Result<Answer, Response> {
    state
        .queries
        .ask(query, state.query_timeout)
        .await
        .map_err(|e| {
            let status = match e {
                QueryError::Busy
                | QueryError::Timeout
                | QueryError::Unavailable
                | QueryError::Standby => StatusCode::SERVICE_UNAVAILABLE,
            };
            error(status, e.to_string())
        })
}

fn not_found(what: &str, id: &str) -> Response {
    error(StatusCode::NOT_FOUND, format!("{what} `{id}` is not known"))
}

async fn member(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match ask(&state, Query::Member(MemberId::new(&id))).await {
        Ok(Answer::Member(Some(view))) => Json(view).into_response(),
        Ok(_) => not_found("member", &id),
        Err(response) => response,
    }
}

async fn group(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match ask(&state, Query::Group(GroupId::new(&id))).await {
        Ok(Answer::Group(Some(view))) => Json(view).into_response(),
        Ok(_) => not_found("group", &id),
        Err(response) => response,
    }
}

#[derive(Deserialize)]
struct Limit {
    limit: Option<usize>,
}

async fn tutor_board(
    state: &AppState,
    id: &str,
    limit: Option<usize>,
) -> Result<crate::query::TutorBoard, Response> {
    let limit = limit
        .unwrap_or(state.at_risk_limit)
        .clamp(1, MAX_AT_RISK_LIMIT);
    let query = Query::Tutor {
        id: TutorId::new(id),
        limit,
    };
    match ask(state, query).await? {
        Answer::Tutor(Some(board)) => Ok(board),
        _ => Err(not_found("tutor", id)),
    }
}

async fn at_risk(
    State(state): State<AppState>,
    Path(id): Path<String>,
    UrlQuery(limit): UrlQuery<Limit>,
) -> Response {
    match tutor_board(&state, &id, limit.limit).await {
        Ok(board) => Json(board).into_response(),
        Err(response) => response,
    }
}

async fn tutor_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    UrlQuery(limit): UrlQuery<Limit>,
) -> Response {
    match tutor_board(&state, &id, limit.limit).await {
        Ok(board) => Html(page::render(&board)).into_response(),
        Err(response) => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_by_content() {
        assert!(same_secret(b"s3cret", b"s3cret"));
        assert!(!same_secret(b"s3cret", b"s3creT"));
        assert!(!same_secret(b"s3cret", b"s3cre"));
        assert!(!same_secret(b"", b"x"));
    }
}
