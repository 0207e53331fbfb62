//! `gateway`: the local API.
//!
//! `gateway [serve]` — serve on 127.0.0.1 (`GATEWAY_PORT`, default 3000) with the functions
//! configured from the same environment settings as their Lambdas (see README).
//! `gateway token [--user NAME] [--password PW] [--id]` — sign in against the local Cognito
//! stand-in (from `.local/state.json`, written by `scripts/run.sh`) and print a token.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gateway::{server, token, Gateway, Settings};
use serde_json::Value;

fn fail(msg: &str) -> ! {
    eprintln!("gateway: {msg}");
    std::process::exit(2);
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.trim().is_empty())
}

fn env_num<T: std::str::FromStr>(k: &str, default: T) -> T {
    match env(k) {
        None => default,
        Some(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| fail(&format!("{k}={v:?} is not a valid number"))),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("tokio runtime: {e}")));
    match args.first().map(String::as_str) {
        None | Some("serve") => rt.block_on(serve()),
        Some("token") => rt.block_on(token_cmd(&args[1..])),
        Some("-h") | Some("--help") | Some("help") => {
            println!("usage: gateway [serve] | gateway token [--user NAME] [--password PW] [--id]");
        }
        Some(other) => fail(&format!("unknown command {other:?}; try `gateway --help`")),
    }
}

async fn token_cmd(args: &[String]) {
    let state_path = env("GATEWAY_STATE").unwrap_or_else(|| ".local/state.json".into());
    let state: Value = std::fs::read(&state_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| {
            fail(&format!(
                "{state_path} not found: start the stack with scripts/run.sh first"
            ))
        });
    let mut user = "alice".to_string();
    let mut password: Option<String> = None;
    let mut id = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--user" => {
                user = it
                    .next()
                    .cloned()
                    .unwrap_or_else(|| fail("--user needs a value"))
            }
            "--password" => password = it.next().cloned(),
            "--id" => id = true,
            o => fail(&format!("unknown option {o:?}")),
        }
    }
    let password = password
        .or_else(|| state["users"][&user].as_str().map(str::to_string))
        .unwrap_or_else(|| fail(&format!("no password for user {user:?}: pass --password")));
    let (Some(endpoint), Some(client)) =
        (state["moto_endpoint"].as_str(), state["client_id"].as_str())
    else {
        fail(&format!("{state_path} lacks moto_endpoint/client_id"));
    };
    match token::sign_in(endpoint, client, &user, &password).await {
        Ok((access, idt)) => println!("{}", if id { idt } else { access }),
        Err(e) => fail(&e.to_string()),
    }
}

async fn serve() {
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_target(false)
        .with_current_span(false)
        .with_span_list(false)
        .with_max_level(tracing::Level::INFO)
        .init();

    let port: u16 = env_num("GATEWAY_PORT", 3000);
    let ttl: u64 = env_num("GATEWAY_AUTH_CACHE_TTL_SECONDS", 300);
    // The API's routes: API_ROUTES when set, else crud's own. The authorizer gets the same table,
    // as the template passes it, so its policies are exact for every route served here.
    let api_routes = env("API_ROUTES").unwrap_or_else(gateway::routes::crud_routes_json);
    let routes = gateway::routes::Routes::parse(&api_routes)
        .unwrap_or_else(|e| fail(&format!("API_ROUTES: {e}")));
    let settings = Settings {
        routes,
        throttle_rate: env_num("GATEWAY_THROTTLE_RATE", 100),
        throttle_burst: env_num("GATEWAY_THROTTLE_BURST", 200),
        auth_cache_ttl: Duration::from_secs(ttl),
        origin_verify_identity_source: env("ORIGIN_VERIFY_SECRET").is_some(),
        ..Settings::default()
    };

    // The edge: same JSON schema as the Lambda@Edge package's config file.
    let edge_json = match (env("EDGE_CONFIG"), env("EDGE_CONFIG_FILE")) {
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
    let jwks_uris = acfg.jwks_uris.join(", ");
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
    let store = crud::store::Store::new(ddb, table);
    let crud = crud::Deps::new(store, csettings).unwrap_or_else(|e| fail(&format!("crud {e}")));

    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => fail(&format!(
            "port {port} on 127.0.0.1 is in use: stop the other process or set GATEWAY_PORT"
        )),
        Err(e) => fail(&format!("cannot listen on {addr}: {e}")),
    };
    let local = listener.local_addr().unwrap_or(addr);
    let gw = Arc::new(Gateway::new(settings, edge, auth, crud));
    eprintln!("gateway: listening on http://{local}");
    server::serve(listener, gw, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    eprintln!("gateway: stopped");
}
