//! One request through the chain, as CloudFront and API Gateway would run it:
//!
//! edge viewer-request → edge origin-request → API Gateway (stage throttling, body limit, route,
//! identity sources, authorizer with its result cache, IAM policy evaluation) → crud (REST proxy
//! event) → edge origin-response → edge viewer-response (only for origin statuses below 400, as
//! CloudFront) → client. Every function runs the same handler code its Lambda binary runs.
//!
//! This module is the order of the steps only; each service lives in its own module:
//! `cloudfront` (the distribution and the edge triggers), `apigw::{throttle, identity, cache,
//! authorizer, integration, response}` (the stage), `iam` (the authorizer's policy), `routes`
//! (route matching), `message` (the HTTP request and response the chain passes along).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use edge::event::{EventType, Request};

use crate::apigw;
use crate::apigw::authorizer::Answer;
use crate::apigw::cache::{AuthCache, CachedAuth};
use crate::apigw::identity;
use crate::apigw::integration;
use crate::apigw::request::{parse_query, RequestFacts};
use crate::apigw::response::{GatewayResponse, OriginResponse};
use crate::apigw::throttle::StageThrottle;
use crate::apigw::upstream::{Upstream, UpstreamRequest};
use crate::cloudfront::{
    self, cf_headers, decode_edge_body, flatten, random16, single, CloudFront,
};
use crate::iam::Verdict;
pub use crate::message::{HttpRequest, HttpResponse, Timings};
use crate::routes;

/// API Gateway and CloudFront settings of the local stack.
#[derive(Debug, Clone)]
pub struct Settings {
    pub region: String,
    pub account: String,
    pub api_id: String,
    /// Stage used when the origin path names none.
    pub stage: String,
    /// Stage throttling: steady rate (requests/second) and burst.
    pub throttle_rate: u32,
    pub throttle_burst: u32,
    /// Authorizer result cache TTL (0 = off), keyed by the identity sources.
    pub auth_cache_ttl: Duration,
    /// API Gateway's payload limit (REST APIs: 10 MB).
    pub max_body_bytes: usize,
    /// Is `x-origin-verify` an identity source (required before the authorizer is called)?
    pub origin_verify_identity_source: bool,
    pub distribution_domain: String,
    pub origin_domain: String,
    pub origin_path: String,
    /// The API's routes (`API_ROUTES`, default crud's).
    pub routes: routes::Routes,
    /// The stage whose integration is crud's canary (the edge's `canary.origin.path`); every
    /// other stage reaches the stable crud (README, "Canary rollout").
    pub canary_stage: String,
    /// crud's invocation timeout (the template's `Timeout`): the deadline its calls budget for.
    pub crud_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            region: "us-east-1".into(),
            account: "123456789012".into(),
            api_id: "localapi01".into(),
            stage: "local".into(),
            throttle_rate: 100,
            throttle_burst: 200,
            auth_cache_ttl: Duration::from_secs(300),
            max_body_bytes: 10 * 1024 * 1024,
            origin_verify_identity_source: false,
            distribution_domain: "d111111abcdef8.cloudfront.net".into(),
            origin_domain: "localapi01.execute-api.us-east-1.amazonaws.com".into(),
            origin_path: "/local".into(),
            routes: routes::Routes::crud(),
            canary_stage: "canary".into(),
            crud_timeout: Duration::from_secs(10),
        }
    }
}

pub struct Gateway {
    settings: Settings,
    cloudfront: CloudFront,
    auth: authorizer::Authorizer,
    backend: Backend,
    health: crate::rollout::Health,
    throttle: StageThrottle,
    cache: Arc<AuthCache>,
    seq: AtomicU64,
}

/// What the API's routes are integrated with. (One per gateway, built once and never moved:
/// the variants' sizes do not matter.)
#[allow(clippy::large_enum_variant)]
enum Backend {
    /// crud, in process, as a Lambda proxy integration; its canary (`CANARY_`-prefixed
    /// settings) on the canary stage.
    Crud {
        stable: crud::Deps,
        canary: Option<crud::Deps>,
    },
    /// A team's own HTTP service (`GATEWAY_UPSTREAM`), as an HTTP proxy integration; every
    /// stage reaches it.
    Upstream(Upstream),
}

/// The local stand-in for API Gateway's `FlushStageAuthorizersCache`: crud's revocation hook
/// (`crud::sessions::AfterRevocation`) drops the stage's answers from this gateway's authorizer
/// cache, in process, where crud on AWS makes the signed API call. Cognito's global sign-out goes
/// to `inner` (the same AWS call crud makes, against the Cognito stand-in), when configured.
struct EmulatedFlush {
    cache: Arc<AuthCache>,
    api_id: String,
    inner: Option<Arc<dyn crud::sessions::AfterRevocation>>,
}

impl crud::sessions::AfterRevocation for EmulatedFlush {
    fn flush_stage<'a>(
        &'a self,
        api_id: &'a str,
        stage: &'a str,
    ) -> crud::sessions::HookFuture<'a> {
        Box::pin(async move {
            if api_id == self.api_id {
                let n = self.cache.flush_stage(stage);
                tracing::info!(event = "authorizer_cache_flushed", stage, answers = n);
            }
            Ok(())
        })
    }

    fn global_sign_out<'a>(&'a self, sub: &'a str) -> crud::sessions::HookFuture<'a> {
        Box::pin(async move {
            match &self.inner {
                Some(h) => h.global_sign_out(sub).await,
                None => Ok(()),
            }
        })
    }
}

/// crud with the emulated flush (keeping crud's own hooks for the global sign-out).
fn with_emulated_flush(mut crud: crud::Deps, cache: &Arc<AuthCache>, api_id: &str) -> crud::Deps {
    let inner = crud.after_revocation.take();
    crud.with_after_revocation(Arc::new(EmulatedFlush {
        cache: cache.clone(),
        api_id: api_id.to_owned(),
        inner,
    }))
}

impl Gateway {
    /// The chain in front of crud (`scripts/run.sh`'s stack).
    pub fn new(
        settings: Settings,
        edge: edge::Edge,
        auth: authorizer::Authorizer,
        crud: crud::Deps,
    ) -> Gateway {
        let cache = Arc::new(AuthCache::new(settings.auth_cache_ttl));
        let crud = with_emulated_flush(crud, &cache, &settings.api_id);
        Self::with_backend(
            settings,
            edge,
            auth,
            cache,
            Backend::Crud {
                stable: crud,
                canary: None,
            },
        )
    }

    /// The chain in front of a team's own HTTP service instead of crud (`GATEWAY_UPSTREAM`).
    pub fn with_upstream(
        settings: Settings,
        edge: edge::Edge,
        auth: authorizer::Authorizer,
        upstream: Upstream,
    ) -> Gateway {
        let cache = Arc::new(AuthCache::new(settings.auth_cache_ttl));
        Self::with_backend(settings, edge, auth, cache, Backend::Upstream(upstream))
    }

    fn with_backend(
        settings: Settings,
        edge: edge::Edge,
        auth: authorizer::Authorizer,
        cache: Arc<AuthCache>,
        backend: Backend,
    ) -> Gateway {
        Gateway {
            cloudfront: CloudFront::new(
                edge,
                &settings.distribution_domain,
                &settings.origin_domain,
                &settings.origin_path,
            ),
            throttle: StageThrottle::new(settings.throttle_rate, settings.throttle_burst),
            cache,
            settings,
            auth,
            backend,
            health: crate::rollout::Health::default(),
            seq: AtomicU64::new(0),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Serve the canary stage with this crud (the canary version) instead of the stable one.
    /// (No effect in front of an upstream: it serves every stage.)
    pub fn with_canary_crud(mut self, crud: crud::Deps) -> Gateway {
        let crud = with_emulated_flush(crud, &self.cache, &self.settings.api_id);
        if let Backend::Crud { canary, .. } = &mut self.backend {
            *canary = Some(crud);
        }
        self
    }

    pub fn edge(&self) -> &edge::Edge {
        self.cloudfront.edge()
    }

    /// Per-variant request and 5xx counts.
    pub fn health(&self) -> &crate::rollout::Health {
        &self.health
    }

    /// Run one request through the whole chain.
    pub async fn handle(&self, req: HttpRequest) -> (HttpResponse, Timings) {
        let started = Instant::now();
        let mut t = Timings::default();
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let request_id = format!("{}-{n:x}", hex::encode(&random16()[..8]));
        let resp = self.chain(req, &request_id, &mut t).await;
        t.total_us = started.elapsed().as_micros() as u64;
        (resp, t)
    }

    /// A request to the regional API endpoint itself (`https://<api>.execute-api.<region>...
    /// /<stage>/...`), around CloudFront: no edge trigger runs, so no origin-verify header is
    /// added. The first path segment is the stage; another stage answers 403 as API Gateway does.
    /// This is what `gateway audit`'s origin-bypass checks call (`GATEWAY_API_PORT`).
    pub async fn handle_regional(&self, req: HttpRequest) -> (HttpResponse, Timings) {
        let started = Instant::now();
        let mut t = Timings::default();
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        let request_id = format!("{}-{n:x}", hex::encode(&random16()[..8]));
        let (path, querystring) = req.path_and_query();
        let trimmed = path.strip_prefix('/').unwrap_or(&path);
        let (stage, rest) = trimmed.split_once('/').unwrap_or((trimmed, ""));
        if stage != self.settings.stage {
            let resp = HttpResponse {
                status: 403,
                headers: vec![("content-type".into(), "application/json".into())],
                body: Bytes::from_static(br#"{"message":"Forbidden"}"#),
            };
            return (resp, t);
        }
        let mut origin = self.cloudfront.origin().clone();
        if let Some(c) = origin.custom.as_mut() {
            c.path = format!("/{stage}");
        }
        let request = Request {
            client_ip: req.client_ip.to_string(),
            headers: cf_headers(&req.headers),
            method: req.method.clone(),
            querystring,
            uri: format!("/{rest}"),
            body: None,
            origin: Some(origin),
        };
        let o = self.api_gateway(&req, &request, &request_id, &mut t).await;
        let mut headers = o.headers;
        headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-length"));
        t.total_us = started.elapsed().as_micros() as u64;
        (
            HttpResponse {
                status: o.status,
                headers,
                body: o.body,
            },
            t,
        )
    }

    async fn chain(&self, req: HttpRequest, request_id: &str, t: &mut Timings) -> HttpResponse {
        let cf = &self.cloudfront;
        // viewer-request: a generated response goes straight back (no response triggers run).
        let vr = match cf.request_trigger(
            EventType::ViewerRequest,
            request_id,
            cloudfront::viewer_request(&req),
            &mut t.edge_us,
        ) {
            Ok(r) => r,
            Err(resp) => return resp,
        };

        // origin-request, with the API as a custom origin.
        let mut or_req = vr.clone();
        or_req.origin = Some(cf.origin().clone());
        let origin_req = match cf.request_trigger(
            EventType::OriginRequest,
            request_id,
            or_req,
            &mut t.edge_us,
        ) {
            Ok(r) => r,
            Err(resp) => return resp,
        };

        let variant = single(&origin_req.headers, "x-canary-variant")
            .ok()
            .flatten()
            .map(str::to_string);
        let origin = self.api_gateway(&req, &origin_req, request_id, t).await;
        self.health.record(variant.as_deref(), origin.status);

        // origin-response: every status.
        let mut resp = match cf.response_trigger(
            EventType::OriginResponse,
            request_id,
            origin_req.clone(),
            cloudfront::origin_response(origin.status, &origin.headers),
            &mut t.edge_us,
        ) {
            Ok(r) => r,
            Err(resp) => return resp,
        };
        let mut body = origin.body;
        if let Some(b) = resp.body.take() {
            body = decode_edge_body(b, resp.body_encoding.as_deref());
        }
        // viewer-response: only below 400, as CloudFront.
        if resp.status_code() < 400 {
            resp = match cf.response_trigger(
                EventType::ViewerResponse,
                request_id,
                vr,
                resp,
                &mut t.edge_us,
            ) {
                Ok(r) => r,
                Err(resp) => return resp,
            };
            if let Some(b) = resp.body.take() {
                body = decode_edge_body(b, resp.body_encoding.as_deref());
            }
        }
        let mut headers = flatten(&resp.headers);
        headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-length"));
        headers.push(("x-amz-cf-id".into(), request_id.to_string()));
        // Local debugging aid (not a CloudFront header): which canary variant served the request.
        if let Some(v) = variant {
            headers.push(("x-gateway-variant".into(), v));
        }
        HttpResponse {
            status: resp.status_code(),
            headers,
            body,
        }
    }

    /// The API Gateway stage and the integration.
    async fn api_gateway(
        &self,
        viewer: &HttpRequest,
        req: &Request,
        request_id: &str,
        t: &mut Timings,
    ) -> OriginResponse {
        if !self.throttle.admit() {
            return GatewayResponse::Throttled.to_response(request_id);
        }
        if viewer.body.len() > self.settings.max_body_bytes {
            return GatewayResponse::RequestTooLarge.to_response(request_id);
        }
        let stage = apigw::stage_of(req, &self.settings.stage);
        let Some(route) = self.settings.routes.match_route(&req.method, &req.uri) else {
            return GatewayResponse::MissingAuthenticationToken.to_response(request_id);
        };

        // Identity sources: all must be present, or API Gateway answers 401 itself.
        let Some(cache_key) = identity::cache_key(
            &stage,
            &req.headers,
            self.settings.origin_verify_identity_source,
        ) else {
            return GatewayResponse::Unauthorized.to_response(request_id);
        };
        let method_arn = apigw::method_arn(
            &self.settings.region,
            &self.settings.account,
            &self.settings.api_id,
            &stage,
            &req.method,
            &req.uri,
        );
        let headers_flat = flatten(&req.headers);
        let query = parse_query(&req.querystring);
        let source_ip = viewer.client_ip.to_string();
        let facts = RequestFacts {
            method_arn: &method_arn,
            resource: &route.resource,
            path: &req.uri,
            method: &req.method,
            stage: &stage,
            account: &self.settings.account,
            api_id: &self.settings.api_id,
            request_id,
            source_ip: &source_ip,
            headers: &headers_flat,
            query: &query,
            path_parameters: &route.params,
        };

        let auth = match self.cache.get(&cache_key) {
            Some(c) => {
                t.auth_cache_hit = true;
                c
            }
            None => match self.authorize(&facts, t).await {
                Ok(c) => {
                    self.cache.insert(cache_key, c.clone());
                    c
                }
                Err(resp) => return resp,
            },
        };
        match auth.answer.policy.evaluate(&method_arn) {
            Verdict::Allow => {}
            Verdict::ExplicitDeny => return GatewayResponse::AccessDenied.to_response(request_id),
            Verdict::ImplicitDeny => return GatewayResponse::AccessDenied.to_response(request_id),
        }
        if let Backend::Upstream(upstream) = &self.backend {
            let started = Instant::now();
            let request = UpstreamRequest {
                method: &req.method,
                path: &req.uri,
                raw_query: &req.querystring,
                headers: &headers_flat,
                body: &viewer.body,
            };
            let out = upstream.call(request, &auth.answer, request_id).await;
            t.crud_us += started.elapsed().as_micros() as u64;
            return out;
        }
        self.integrate(&facts, &viewer.body, &auth.answer, t).await
    }

    /// Call the authorizer (a cache miss): its answer, or API Gateway's refusal.
    async fn authorize(
        &self,
        facts: &RequestFacts<'_>,
        t: &mut Timings,
    ) -> Result<CachedAuth, OriginResponse> {
        // An invalid header or an unserializable event reaches the authorizer as an event it
        // refuses (401), as an unreadable event would.
        let event = apigw::authorizer::request_event(facts)
            .and_then(|ev| serde_json::to_string(&ev).ok())
            .unwrap_or_default();
        let started = Instant::now();
        let out = self.auth.handle(&event, SystemTime::now()).await;
        t.authorizer_us += started.elapsed().as_micros() as u64;
        let Ok(out) = out else {
            return Err(GatewayResponse::Unauthorized.to_response(facts.request_id));
        };
        let Some(answer) = apigw::authorizer::read_answer(&out) else {
            return Err(GatewayResponse::AuthorizerFailure.to_response(facts.request_id));
        };
        Ok(CachedAuth {
            at: Instant::now(),
            answer,
        })
    }

    /// The integration: crud (the canary one on the canary stage) with a REST proxy event
    /// carrying the authorizer's context.
    async fn integrate(
        &self,
        facts: &RequestFacts<'_>,
        body: &[u8],
        auth: &Answer,
        t: &mut Timings,
    ) -> OriginResponse {
        let request_id = facts.request_id;
        let event = integration::proxy_event(facts, body, auth);
        let started = Instant::now();
        let deadline = started + self.settings.crud_timeout;
        let deps = match &self.backend {
            Backend::Crud {
                canary: Some(c), ..
            } if facts.stage == self.settings.canary_stage => c,
            Backend::Crud { stable, .. } => stable,
            Backend::Upstream(_) => return GatewayResponse::Default5xx.to_response(request_id),
        };
        let out = match event {
            Some(ev) => serde_json::to_value(
                crud::handler::handle_event_until(
                    crud::CrudEvent::Rest(Box::new(ev)),
                    deps,
                    Some(deadline),
                )
                .await,
            )
            .ok(),
            None => None,
        };
        t.crud_us += started.elapsed().as_micros() as u64;
        let Some(out) = out else {
            return GatewayResponse::Default5xx.to_response(request_id);
        };
        integration::proxy_response(&out, request_id)
    }
}
