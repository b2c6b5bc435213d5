//! The limiter in front of an axum (or any hyper/tower HTTP) service (feature `server`).
//!
//! [`LimiterLayer`](crate::limiter::LimiterLayer) fails a refused request with an error, which
//! axum's `Router::layer` does not accept (its services never fail). [`HttpLimiterLayer`]
//! answers it instead: a call the limiter sheds (wait queue full) gets **503 Service
//! Unavailable** with `Retry-After`, one that waited its whole `max_wait` gets **504 Gateway
//! Timeout**; [`AcquireError`] is also an [`IntoResponse`] for handlers that use the limiter
//! themselves.
//!
//! ```
//! use axum::{Router, routing::get};
//! use perfopt::limiter::{Algorithm, Limiter, LimiterConfig};
//! use perfopt::limiter_http::HttpLimiterLayer;
//!
//! let limiter = Limiter::new(LimiterConfig::new(Algorithm::Fixed(64))).unwrap();
//! let app: Router = Router::new()
//!     .route("/", get(|| async { "hello" }))
//!     .layer(HttpLimiterLayer::new(limiter));
//! ```
//!
//! A response with a 5xx status releases its permit as [`Outcome::Dropped`] (a congestion
//! signal for the adaptive algorithms, like a 503 from downstream), any other as
//! [`Outcome::Success`]; a request whose response future is dropped as [`Outcome::Ignored`].

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::limiter::{AcquireError, Limiter, Outcome};

/// `Retry-After` sent with a 503 unless set otherwise.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

impl IntoResponse for AcquireError {
    fn into_response(self) -> Response {
        rejection_response(&self, DEFAULT_RETRY_AFTER)
    }
}

fn rejection_response(e: &AcquireError, retry_after: Duration) -> Response {
    let status = if e.is_rejection() {
        StatusCode::SERVICE_UNAVAILABLE
    } else if e.is_timeout() {
        StatusCode::GATEWAY_TIMEOUT
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    let mut res = (status, format!("{e}\n")).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        // Whole seconds, at least 1 (RFC 9110 §10.2.3).
        let secs = retry_after.as_secs().max(1);
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    res
}

/// A [`tower_layer::Layer`] that runs every request through a [`Limiter`] and answers the
/// refused ones itself (503 with `Retry-After`, 504), so the wrapped service's error type
/// stays [`Infallible`], as axum requires.
#[derive(Clone, Debug)]
pub struct HttpLimiterLayer {
    limiter: Limiter,
    retry_after: Duration,
}

impl HttpLimiterLayer {
    /// A layer sharing `limiter` among every service it wraps.
    pub fn new(limiter: Limiter) -> HttpLimiterLayer {
        HttpLimiterLayer {
            limiter,
            retry_after: DEFAULT_RETRY_AFTER,
        }
    }

    /// The `Retry-After` of a 503 (rounded down to whole seconds, at least 1).
    #[must_use]
    pub fn retry_after(mut self, after: Duration) -> HttpLimiterLayer {
        self.retry_after = after;
        self
    }
}

impl<S> tower_layer::Layer<S> for HttpLimiterLayer {
    type Service = HttpLimiterService<S>;

    fn layer(&self, inner: S) -> HttpLimiterService<S> {
        HttpLimiterService {
            inner,
            limiter: self.limiter.clone(),
            retry_after: self.retry_after,
        }
    }
}

/// The service made by [`HttpLimiterLayer`].
#[derive(Clone, Debug)]
pub struct HttpLimiterService<S> {
    inner: S,
    limiter: Limiter,
    retry_after: Duration,
}

impl<S, B> tower_service::Service<Request<B>> for HttpLimiterService<S>
where
    S: tower_service::Service<Request<B>, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The ready service goes with this request; a fresh clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let limiter = self.limiter.clone();
        let retry_after = self.retry_after;
        Box::pin(async move {
            let mut permit = match limiter.acquire_owned().await {
                Ok(p) => p,
                Err(e) => return Ok(rejection_response(&e, retry_after)),
            };
            permit.set_outcome(Outcome::Ignored);
            let Ok(response) = inner.call(request).await;
            let outcome = if response.status().is_server_error() {
                Outcome::Dropped
            } else {
                Outcome::Success
            };
            permit.release(outcome);
            Ok(response)
        })
    }
}
