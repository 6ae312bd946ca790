//! The HTTP edge (SPEC §8): `/metrics`, `/healthz`, `/readyz`, read-only JSON queries
//! under `/v1`, the tutor page `/tutors/{id}` and its live alert stream
//! `/v1/tutors/{id}/alerts`. It runs on its own small runtime and reaches the engine only
//! through [`crate::query`], and the live alerts only through [`AlertFeed`]: a slow
//! client never touches the pipeline thread.
//!
//! Authentication: with `http.token` set, `/v1/…` and `/tutors/…` need
//! `Authorization: Bearer <token>`. A browser's `EventSource` cannot send that header, so
//! the page, itself fetched with the token, sets a cookie (`churnwatch_live`, HttpOnly,
//! SameSite=Strict) holding a key derived from the token (HMAC-SHA256 of a fixed label):
//! it opens the alert streams and nothing else, and never reveals the token.

mod alerts;
mod page;
pub mod zones;

pub use crate::health::Health;
use std::net::SocketAddr;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::{Path, Query as UrlQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use tracing::info;

use self::zones::TutorZones;
use crate::alerts_feed::AlertFeed;
use crate::config::HttpConfig;
use crate::metrics::Metrics;
use crate::model::{GroupId, MemberId, TutorId};
use crate::query::{Answer, Query, QueryClient, QueryError};

/// Largest `?limit=` a tutor query may ask for.
const MAX_AT_RISK_LIMIT: usize = 1_000;

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    health: Health,
    queries: QueryClient,
    token: Option<Arc<str>>,
    /// The cookie value that opens the alert streams, derived from `token`.
    live_key: Option<Arc<str>>,
    query_timeout: Duration,
    at_risk_limit: usize,
    feed: Arc<AlertFeed>,
    zones: Arc<TutorZones>,
    stream_lifetime: Duration,
    /// Forwards queries to the instance running their task (two stages).
    peers: reqwest::Client,
}

/// A bound, not yet serving, HTTP server. Binding happens at start so that a port in use
/// is an error before any input is consumed.
pub struct Server {
    listener: std::net::TcpListener,
    router: Router,
}

/// Binds `config.bind` and prepares the routes; reads the tutor directory, if one is
/// configured, for the tutors' time zones.
pub fn bind(
    config: &HttpConfig,
    metrics: Arc<Metrics>,
    health: Health,
    queries: QueryClient,
    feed: Arc<AlertFeed>,
) -> anyhow::Result<Server> {
    let zones = TutorZones::load(config.tutor_directory.as_deref())
        .context("reading the tutor directory named by http.tutor_directory")?;
    if let Some(path) = &config.tutor_directory {
        info!(directory = %path, tutors = zones.listed(), "http: tutor pages on each tutor's time zone");
    }
    let listener = std::net::TcpListener::bind(&config.bind)
        .with_context(|| format!("binding the HTTP server to {}", config.bind))?;
    listener.set_nonblocking(true)?;
    let millis = |span: crate::model::Span, default: u64| {
        Duration::from_millis(u64::try_from(span.as_millis()).unwrap_or(default))
    };
    let token = config.token.as_deref().filter(|t| !t.is_empty());
    let query_timeout = millis(config.query_timeout, 5_000);
    let peers = reqwest::Client::builder()
        .timeout(query_timeout)
        .build()
        .context("building the HTTP client that forwards queries")?;
    let state = AppState {
        metrics,
        health,
        queries,
        token: token.map(Arc::from),
        live_key: token.and_then(live_key).map(Arc::from),
        query_timeout,
        at_risk_limit: config.at_risk_limit,
        feed,
        zones: Arc::new(zones),
        stream_lifetime: millis(config.alerts_stream_lifetime, 600_000),
        peers,
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
        .route("/v1/internal/tutors/{id}/share", get(tutor_share))
        .route("/tutors/{id}", get(tutor_page))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    let live = Router::new()
        .route("/v1/tutors/{id}/alerts", get(alerts::stream))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            require_token_or_live_cookie,
        ));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(protected)
        .merge(live)
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

/// The cookie that opens the live alert streams.
const LIVE_COOKIE: &str = "churnwatch_live";

/// The cookie's value for `token`: HMAC-SHA256 of a fixed label keyed by the token, in
/// hex. It opens the alert streams only, and the token cannot be read back from it.
fn live_key(token: &str) -> Option<String> {
    // HMAC takes a key of any length: `new_from_slice` does not fail for it. Were it to,
    // there would be no cookie, and the streams would take the bearer token only.
    let mut mac = Hmac::<Sha256>::new_from_slice(token.as_bytes()).ok()?;
    mac.update(b"churnwatch live alerts v1");
    Some(
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// The `Set-Cookie` header the page sends when a token guards the server.
fn live_cookie(key: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{LIVE_COOKIE}={key}; Path=/v1/tutors/; HttpOnly; SameSite=Strict"
    ))
    .ok()
}

fn bearer_ok(request: &Request, token: &str) -> bool {
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|p| same_secret(p.as_bytes(), token.as_bytes()))
}

fn cookie_ok(request: &Request, key: &str) -> bool {
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == LIVE_COOKIE && same_secret(value.as_bytes(), key.as_bytes()))
}

fn unauthorized() -> Response {
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

async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match state.token.as_deref() {
        None => next.run(request).await,
        Some(token) if bearer_ok(&request, token) => next.run(request).await,
        Some(_) => unauthorized(),
    }
}

/// The alert streams: the bearer token, or the page's cookie.
async fn require_token_or_live_cookie(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = state.token.as_deref() else {
        return next.run(request).await;
    };
    let allowed = bearer_ok(&request, token)
        || state
            .live_key
            .as_deref()
            .is_some_and(|key| cookie_ok(&request, key));
    if allowed {
        next.run(request).await
    } else {
        unauthorized()
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
        .map_err(refusal)
}

fn refusal(e: QueryError) -> Response {
    let status = match e {
        QueryError::Busy
        | QueryError::Timeout
        | QueryError::Unavailable
        | QueryError::Standby
        | QueryError::Elsewhere(_)
        | QueryError::Rebuilding => StatusCode::SERVICE_UNAVAILABLE,
    };
    error(status, e.to_string())
}

/// Marks a query one instance forwarded to another (two stages): the receiver answers from
/// its own tasks and never forwards it again, so two instances with stale directories
/// cannot pass a query back and forth.
const FORWARDED: &str = "x-churnwatch-forwarded";

/// [`ask`], and where the answer is that another instance runs the key's task, that
/// instance's answer to `path`.
async fn ask_or_forward(
    state: &AppState,
    query: Query,
    path: &str,
    headers: &HeaderMap,
) -> Result<Answer, Response> {
    match state.queries.ask(query, state.query_timeout).await {
        Err(QueryError::Elsewhere(Some(owner))) if !headers.contains_key(FORWARDED) => {
            Err(forward(state, &owner, path, headers).await)
        }
        answer => answer.map_err(refusal),
    }
}

/// The owner's reply to `path`, status and body as it gave them.
async fn forward(state: &AppState, owner: &str, path: &str, headers: &HeaderMap) -> Response {
    let url = format!("{owner}{path}");
    let mut request = state.peers.get(&url).header(FORWARDED, "1");
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        request = request.header(header::AUTHORIZATION, auth.as_bytes());
    }
    let reply = match request.send().await {
        Ok(reply) => reply,
        Err(e) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the instance running this task ({owner}) did not answer: {e}"),
            )
        }
    };
    let status = StatusCode::from_u16(reply.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    match reply.bytes().await {
        Ok(body) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(e) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("reading the answer of {owner}: {e}"),
        ),
    }
}

/// An id as one path segment.
fn segment(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn not_found(what: &str, id: &str) -> Response {
    error(StatusCode::NOT_FOUND, format!("{what} `{id}` is not known"))
}

async fn member(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/v1/members/{}", segment(&id));
    match ask_or_forward(&state, Query::Member(MemberId::new(&id)), &path, &headers).await {
        Ok(Answer::Member(Some(view))) => Json(view).into_response(),
        Ok(_) => not_found("member", &id),
        Err(response) => response,
    }
}

async fn group(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/v1/groups/{}", segment(&id));
    match ask_or_forward(&state, Query::Group(GroupId::new(&id)), &path, &headers).await {
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
    headers: &HeaderMap,
) -> Result<crate::query::TutorBoard, Response> {
    let limit = board_limit(state, limit);
    let tutor = TutorId::new(id);
    let query = Query::Tutor {
        id: tutor.clone(),
        limit,
    };
    let board = match state.queries.ask(query, state.query_timeout).await {
        Ok(Answer::Tutor(board)) => board,
        Ok(_) => None,
        // Two stages with tasks on other instances: her board is theirs and ours.
        Err(QueryError::Elsewhere(_)) if !headers.contains_key(FORWARDED) => {
            gather_board(state, &tutor, limit, headers).await?
        }
        Err(e) => return Err(refusal(e)),
    };
    board.ok_or_else(|| not_found("tutor", id))
}

/// At-risk members a board lists: as asked, within bounds, or the configured default.
fn board_limit(state: &AppState, asked: Option<usize>) -> usize {
    asked
        .unwrap_or(state.at_risk_limit)
        .clamp(1, MAX_AT_RISK_LIMIT)
}

/// Her board from this instance's share and every peer's.
async fn gather_board(
    state: &AppState,
    tutor: &TutorId,
    limit: usize,
    headers: &HeaderMap,
) -> Result<Option<crate::query::TutorBoard>, Response> {
    let own = match ask(
        state,
        Query::TutorShare {
            id: tutor.clone(),
            limit,
        },
    )
    .await?
    {
        Answer::TutorShare(share) => *share,
        _ => {
            return Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "no share of the board here".to_owned(),
            ))
        }
    };
    let path = format!(
        "/v1/internal/tutors/{}/share?limit={limit}",
        segment(tutor.as_str())
    );
    let mut shares = Vec::with_capacity(own.peers.len() + 1);
    for peer in &own.peers {
        let reply = forward(state, peer, &path, headers).await;
        if !reply.status().is_success() {
            return Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "gathering the tutor's board: {peer} answered {}",
                    reply.status()
                ),
            ));
        }
        let body = axum::body::to_bytes(reply.into_body(), MAX_SHARE_BYTES)
            .await
            .map_err(|e| {
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("reading {peer}'s share: {e}"),
                )
            })?;
        let share = serde_json::from_slice(&body).map_err(|e| {
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{peer}'s share: {e}"),
            )
        })?;
        shares.push(share);
    }
    shares.push(own);
    crate::query::share::board(shares, tutor, limit)
        .map_err(|why| error(StatusCode::SERVICE_UNAVAILABLE, why))
}

/// A peer's share of a board: at most `MAX_AT_RISK_LIMIT` members and her groups.
const MAX_SHARE_BYTES: usize = 16 << 20;

/// What this instance holds of a tutor's board, for the instance gathering it.
async fn tutor_share(
    State(state): State<AppState>,
    Path(id): Path<String>,
    UrlQuery(limit): UrlQuery<Limit>,
) -> Response {
    let limit = board_limit(&state, limit.limit);
    match ask(
        &state,
        Query::TutorShare {
            id: TutorId::new(&id),
            limit,
        },
    )
    .await
    {
        Ok(Answer::TutorShare(share)) => Json(share).into_response(),
        Ok(_) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no share of the board here".to_owned(),
        ),
        Err(response) => response,
    }
}

async fn at_risk(
    State(state): State<AppState>,
    Path(id): Path<String>,
    UrlQuery(limit): UrlQuery<Limit>,
    headers: HeaderMap,
) -> Response {
    match tutor_board(&state, &id, limit.limit, &headers).await {
        Ok(board) => Json(board).into_response(),
        Err(response) => response,
    }
}

async fn tutor_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    UrlQuery(limit): UrlQuery<Limit>,
    headers: HeaderMap,
) -> Response {
    let board = match tutor_board(&state, &id, limit.limit, &headers).await {
        Ok(board) => board,
        Err(response) => return response,
    };
    // The cursor first: an alert published while the page renders comes on the stream.
    let cursor = state.feed.cursor();
    let alerts = state.feed.recent(&board.tutor_id, page::LIVE_ON_PAGE);
    let live = page::Live {
        zone: state.zones.of(&board.tutor_id),
        alerts: &alerts,
        cursor,
    };
    let mut response = Html(page::render(&board, &live)).into_response();
    if let Some(cookie) = state.live_key.as_deref().and_then(live_cookie) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
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
