//! `gateway serve`: the local API (the `emulator` crate) configured as the Lambdas are.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use emulator::{server, Gateway, Settings};

use crate::fail;

/// Serve the local API on 127.0.0.1 (the default command)
///
/// CloudFront + API Gateway in front of the edge, authorizer and crud functions, in process,
/// against local AWS stand-ins (scripts/run.sh starts them).
///
/// The functions read their own settings from the environment, as their Lambdas do (README,
/// "Configuration"): the authorizer's (USER_POOL_ID or ISSUER, CLIENT_IDS, JWKS_URI, TOKEN_USE,
/// ROUTE_RULES, ...), crud's (TABLE_NAME, CURSOR_SECRET, RATE_LIMIT_PER_MINUTE, ...; the canary
/// crud takes CANARY_<setting> overrides), secrets from their stores (ORIGIN_VERIFY_SECRET_ARN,
/// CURSOR_SECRET_ARN), AWS endpoints (AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL). The
/// gateway's own settings are below, each a flag or its environment variable.
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ServeArgs {
    /// Port on 127.0.0.1 of the public (CloudFront) endpoint
    #[arg(
        long,
        env = "GATEWAY_PORT",
        value_name = "PORT",
        default_value = "3000"
    )]
    pub port: String,
    /// Also serve the regional API endpoint (API Gateway without CloudFront) on this port
    #[arg(long, env = "GATEWAY_API_PORT", value_name = "PORT")]
    pub api_port: Option<String>,
    /// API Gateway's authorizer result cache TTL (0 = off)
    #[arg(
        long,
        env = "GATEWAY_AUTH_CACHE_TTL_SECONDS",
        value_name = "S",
        default_value = "300"
    )]
    pub auth_cache_ttl_seconds: String,
    /// Stage throttling: steady requests per second
    #[arg(
        long,
        env = "GATEWAY_THROTTLE_RATE",
        value_name = "N",
        default_value = "100"
    )]
    pub throttle_rate: String,
    /// Stage throttling: burst
    #[arg(
        long,
        env = "GATEWAY_THROTTLE_BURST",
        value_name = "N",
        default_value = "200"
    )]
    pub throttle_burst: String,
    /// The API's routes, a JSON array of "METHOD /path" [default: crud's]
    #[arg(long, env = "API_ROUTES", value_name = "JSON")]
    pub api_routes: Option<String>,
    /// The edge configuration (the Lambda@Edge package's JSON schema)
    #[arg(long, env = "EDGE_CONFIG", value_name = "JSON", hide_env_values = true)]
    pub edge_config: Option<String>,
    /// The edge configuration, from a file (when EDGE_CONFIG is not set)
    #[arg(long, env = "EDGE_CONFIG_FILE", value_name = "FILE")]
    pub edge_config_file: Option<String>,
    /// Front this HTTP service (http://127.0.0.1:PORT, loopback only) instead of crud: the
    /// routes of API_ROUTES go there with the caller's identity as x-guard-* headers
    #[arg(long, env = "GATEWAY_UPSTREAM", value_name = "URL")]
    pub upstream: Option<String>,
    /// The upstream's integration timeout in milliseconds (API Gateway's REST default)
    #[arg(
        long,
        env = "GATEWAY_UPSTREAM_TIMEOUT_MS",
        value_name = "MS",
        default_value = "29000"
    )]
    pub upstream_timeout_ms: String,
    /// Where to write per-variant health four times a second (for `gateway rollout`)
    #[arg(long, env = "GATEWAY_HEALTH_FILE", value_name = "FILE")]
    pub health_file: Option<String>,
}

fn some(v: &Option<String>) -> Option<String> {
    v.clone().filter(|v| !v.trim().is_empty())
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.trim().is_empty())
}

/// An integer setting within its type's range (`init_settings::bounded`, as the functions read
/// theirs); a bad value stops the gateway with the setting and the range named.
fn num<T: Bounded>(k: &'static str, v: &str, default: T) -> T {
    let v = Some(v).filter(|v| !v.trim().is_empty());
    match init_settings::bounded(k, v, default.into(), 0, T::MAX.into()) {
        // within T::MAX, so the conversion cannot fail
        Ok(v) => T::try_from(v).unwrap_or(default),
        Err(e) => fail(&e.to_string()),
    }
}

/// The unsigned integer types settings are read into.
trait Bounded: Copy + Into<u64> + TryFrom<u64> {
    const MAX: Self;
}
impl Bounded for u16 {
    const MAX: u16 = u16::MAX;
}
impl Bounded for u32 {
    const MAX: u32 = u32::MAX;
}
impl Bounded for u64 {
    const MAX: u64 = u64::MAX;
}

pub async fn serve(args: ServeArgs) {
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_target(false)
        .with_current_span(false)
        .with_span_list(false)
        .with_max_level(tracing::Level::INFO)
        .init();

    // Secrets from the secret store (`*_ARN`: Secrets Manager / SSM, moto locally), read as the
    // Lambdas read them (secret-source), before any setting is looked up or a task spawned.
    match secret_source::resolve(&["ORIGIN_VERIFY_SECRET", "CURSOR_SECRET"], |k| {
        std::env::var(k).ok()
    })
    .await
    {
        Ok(found) => {
            for (k, v) in found {
                std::env::remove_var(format!("{k}_ARN"));
                std::env::set_var(k, v);
            }
        }
        Err(e) => fail(&e.to_string()),
    }
    let port: u16 = num("GATEWAY_PORT", &args.port, 3000);
    let ttl: u64 = num(
        "GATEWAY_AUTH_CACHE_TTL_SECONDS",
        &args.auth_cache_ttl_seconds,
        300,
    );
    // The API's routes: API_ROUTES when set, else crud's own. The authorizer gets the same table,
    // as the template passes it, so its policies are exact for every route served here.
    let api_routes = some(&args.api_routes).unwrap_or_else(emulator::routes::crud_routes_json);
    let routes = emulator::routes::Routes::parse(&api_routes)
        .unwrap_or_else(|e| fail(&format!("API_ROUTES: {e}")));
    let settings = Settings {
        routes,
        throttle_rate: num("GATEWAY_THROTTLE_RATE", &args.throttle_rate, 100),
        throttle_burst: num("GATEWAY_THROTTLE_BURST", &args.throttle_burst, 200),
        auth_cache_ttl: Duration::from_secs(ttl),
        origin_verify_identity_source: env("ORIGIN_VERIFY_SECRET").is_some(),
        ..Settings::default()
    };

    // The edge: same JSON schema as the Lambda@Edge package's config file.
    let edge_json = match (some(&args.edge_config), some(&args.edge_config_file)) {
        (Some(j), _) => j.into_bytes(),
        (None, Some(f)) => {
            std::fs::read(&f).unwrap_or_else(|e| fail(&format!("EDGE_CONFIG_FILE {f}: {e}")))
        }
        (None, None) => b"{}".to_vec(),
    };
    let edge = edge::Edge::from_json(&edge_json)
        .unwrap_or_else(|e| fail(&format!("edge configuration: {e}")));

    // The authorizer, configured as its Lambda is.
    let acfg = authorizer::Config::from_lookup(|k| match k {
        "API_ROUTES" => Some(api_routes.clone()),
        _ => std::env::var(k).ok(),
    })
    .unwrap_or_else(|e| fail(&format!("authorizer {e}")));
    let jwks_uris = acfg
        .jwks_uris
        .iter()
        .map(|u| u.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let auth = authorizer::init(acfg)
        .await
        .unwrap_or_else(|e| fail(&format!("authorizer JWKS client: {e}")));
    if auth
        .verifier()
        .key_sets()
        .iter()
        .any(|j| j.key_count() == 0)
    {
        fail(&format!(
            "JWKS at {jwks_uris} is not reachable or holds no usable key: is the Cognito stand-in (moto) running? scripts/run.sh starts it"
        ));
    }

    // GATEWAY_UPSTREAM: the chain fronts a team's own HTTP service instead of crud.
    if let Some(url) = some(&args.upstream) {
        let timeout_ms: u64 = num(
            "GATEWAY_UPSTREAM_TIMEOUT_MS",
            &args.upstream_timeout_ms,
            29_000,
        );
        if timeout_ms == 0 {
            fail("GATEWAY_UPSTREAM_TIMEOUT_MS must be at least 1");
        }
        let config = emulator::apigw::upstream::UpstreamConfig::parse(
            &url,
            Duration::from_millis(timeout_ms),
        )
        .unwrap_or_else(|e| fail(&e.to_string()));
        let upstream = emulator::apigw::upstream::Upstream::new(config);
        let gw = Arc::new(Gateway::with_upstream(settings, edge, auth, upstream));
        return listen(port, gw, &args, Some(url)).await;
    }

    // The crud function, configured as its Lambda is.
    let csettings = crud::Settings::from_lookup(|k| std::env::var(k).ok())
        .unwrap_or_else(|e| fail(&format!("crud {e}")));
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let table = csettings.table_name.clone();
    if let Err(e) = ddb.describe_table().table_name(&table).send().await {
        let endpoint = env("AWS_ENDPOINT_URL_DYNAMODB")
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|| "AWS".into());
        fail(&format!(
            "DynamoDB at {endpoint} not reachable or table {table:?} missing ({}); scripts/run.sh starts moto and creates it",
            aws_sdk_dynamodb::error::DisplayErrorContext(&e)
        ));
    }
    let store = crud::store::Store::new(ddb.clone(), table);
    // Cognito's global sign-out for `DELETE /users/{sub}/sessions` (USER_POOL_ID), against the
    // Cognito stand-in, through crud's own AWS hook; the cache flush is the gateway's own
    // (emulated, in process: see emulator::pipeline::EmulatedFlush).
    let sign_out = match (&csettings.revocation_table, &csettings.user_pool_id) {
        (Some(_), Some(pool)) => Some(crud::aws_hooks::AwsHooks::new(
            &sdk,
            false,
            Some(pool.clone()),
        )),
        _ => None,
    };
    let crud = crud::Deps::new(store, csettings).unwrap_or_else(|e| fail(&format!("crud {e}")));
    let crud = match sign_out {
        Some(h) => crud.with_after_revocation(Arc::new(h)),
        None => crud,
    };
    // crud's canary: the same settings, each overridden by its `CANARY_`-prefixed variable. Its
    // table is not required to exist (a broken canary deploy must be possible to simulate).
    let canary_settings = crud::Settings::from_lookup(|k| {
        std::env::var(format!("CANARY_{k}"))
            .ok()
            .or_else(|| std::env::var(k).ok())
    })
    .unwrap_or_else(|e| fail(&format!("canary crud (CANARY_ overrides) {e}")));
    let canary_table = canary_settings.table_name.clone();
    if let Err(e) = ddb.describe_table().table_name(&canary_table).send().await {
        tracing::warn!(
            code = "canary_table_unreachable",
            table = %canary_table,
            error = %aws_sdk_dynamodb::error::DisplayErrorContext(&e),
            "the canary crud's table is not reachable: canary requests will fail"
        );
    }
    let canary_crud = crud::Deps::new(crud::store::Store::new(ddb, canary_table), canary_settings)
        .unwrap_or_else(|e| fail(&format!("canary crud {e}")));

    let gw = Arc::new(Gateway::new(settings, edge, auth, crud).with_canary_crud(canary_crud));
    listen(port, gw, &args, None).await
}

/// Serve `gw` on 127.0.0.1:`port` (and the regional endpoint on `GATEWAY_API_PORT`) until Ctrl-C.
async fn listen(port: u16, gw: Arc<Gateway>, args: &ServeArgs, upstream: Option<String>) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => fail(&format!(
            "port {port} on 127.0.0.1 is in use: stop the other process or set GATEWAY_PORT"
        )),
        Err(e) => fail(&format!("cannot listen on {addr}: {e}")),
    };
    let local = listener.local_addr().unwrap_or(addr);
    tokio::spawn(emulator::rollout::run_background(
        gw.clone(),
        some(&args.health_file).map(Into::into),
    ));
    eprintln!("gateway: listening on http://{local}");
    if let Some(u) = upstream {
        eprintln!("gateway: routes of API_ROUTES go to the upstream {u}");
    }
    // The regional API endpoint (API Gateway without CloudFront), for origin-bypass checks.
    if let Some(api_port) = some(&args.api_port) {
        let api_port: u16 = api_port
            .trim()
            .parse()
            .unwrap_or_else(|_| fail("GATEWAY_API_PORT is not a port number"));
        let api = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], api_port)))
            .await
            .unwrap_or_else(|e| {
                fail(&format!(
                    "cannot listen on GATEWAY_API_PORT {api_port}: {e}"
                ))
            });
        let api_local = api.local_addr().map(|a| a.to_string()).unwrap_or_default();
        eprintln!(
            "gateway: regional API (no CloudFront) on http://{api_local}/{}",
            gw.settings().stage
        );
        tokio::spawn(server::serve_regional(api, gw.clone(), async {
            let _ = tokio::signal::ctrl_c().await;
        }));
    }
    server::serve(listener, gw, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    eprintln!("gateway: stopped");
}
