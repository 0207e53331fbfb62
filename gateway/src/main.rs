//! `gateway`: the local API.
//!
//! `gateway [serve]` — serve on 127.0.0.1 (`GATEWAY_PORT`, default 3000) with the functions
//! configured from the same environment settings as their Lambdas (see README).
//! `gateway token [--user NAME] [--password PW] [--id]` — sign in against the local Cognito
//! stand-in (from `.local/state.json`, written by `scripts/run.sh`) and print a token.
//! `gateway rollout status | set --weight N [--kill] | ramp --steps … --bake-seconds S
//! --max-error-rate R` — drive the canary of the running local stack (gateway/src/rollout.rs), or
//! with `--s3-uri s3://<bucket>/rollout.json` a deployed stack (gateway/src/rollout_aws.rs).
//! `gateway audit [...]` — attack a running stack and print a scorecard (gateway/src/audit/).
//! `GATEWAY_API_PORT` set: `serve` also serves the regional API endpoint (no CloudFront) there.

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

/// An integer setting within its type's range (`init_settings::bounded`, as the functions read
/// theirs); a bad value stops the gateway with the setting and the range named.
fn env_num<T: Bounded>(k: &'static str, default: T) -> T {
    match init_settings::bounded(k, env(k).as_deref(), default.into(), 0, T::MAX.into()) {
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
        Some("rollout") => rollout_cmd(&args[1..]),
        Some("audit") => std::process::exit(rt.block_on(gateway::audit::main(&args[1..]))),
        Some("-h") | Some("--help") | Some("help") => {
            println!("usage: gateway [serve] | gateway token [--user NAME] [--password PW] [--id]");
            println!("       gateway rollout status | set --weight N [--kill] | ramp --steps 1,5,25,50,100 --bake-seconds S --max-error-rate R [--min-requests N]");
            println!("         on AWS: --s3-uri s3://<bucket>/rollout.json (or ROLLOUT_S3_URI) --namespace <stack>/Gateway [--propagation-seconds 11] [--window-seconds 300] [--poll-seconds 15]");
            println!("       gateway audit [--json] [--url URL --api-url URL] ... (gateway audit --help)");
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

fn rollout_cmd(args: &[String]) {
    use gateway::rollout::{self, Local, Ramp, Target};
    use gateway::rollout_aws::{self as aws_rollout, AwsRollout};
    let print = |v: &Value| println!("{v}");
    let mut it = args.iter();
    let sub = it.next().map(String::as_str);
    let mut opts: std::collections::HashMap<String, String> = Default::default();
    let mut kill = false;
    while let Some(a) = it.next() {
        match a.as_str() {
            "--kill" => kill = true,
            "--weight"
            | "--steps"
            | "--bake-seconds"
            | "--max-error-rate"
            | "--min-requests"
            | "--s3-uri"
            | "--namespace"
            | "--propagation-seconds"
            | "--window-seconds"
            | "--poll-seconds" => {
                let v = it
                    .next()
                    .unwrap_or_else(|| fail(&format!("{a} needs a value")));
                opts.insert(a.clone(), v.clone());
            }
            o => fail(&format!("unknown option {o:?}; try `gateway --help`")),
        }
    }
    let num = |k: &str| -> Option<f64> {
        opts.get(k).map(|v| {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .unwrap_or_else(|| fail(&format!("{k} {v:?} is not a number")))
        })
    };
    let seconds =
        |k: &str, default: Duration| num(k).map(Duration::from_secs_f64).unwrap_or(default);
    // A deployed stack when an S3 URI is named (flag or ROLLOUT_S3_URI), else the local one.
    enum Which {
        Local(Local),
        Aws(Box<AwsRollout>),
    }
    let which = match opts
        .get("--s3-uri")
        .cloned()
        .or_else(|| env("ROLLOUT_S3_URI"))
    {
        Some(uri) => {
            let object = gateway::aws::S3Uri::parse(uri.trim()).unwrap_or_else(|e| fail(&e));
            let aws = gateway::aws::Aws::from_lookup(&env).unwrap_or_else(|e| fail(&e));
            let namespace = opts
                .get("--namespace")
                .cloned()
                .or_else(|| env("ROLLOUT_METRICS_NAMESPACE"))
                .unwrap_or_else(|| crud::metrics::DEFAULT_NAMESPACE.to_string());
            Which::Aws(Box::new(
                AwsRollout::new(
                    aws,
                    object,
                    namespace,
                    seconds("--propagation-seconds", aws_rollout::DEFAULT_PROPAGATION),
                    seconds("--window-seconds", aws_rollout::DEFAULT_WINDOW),
                    seconds("--poll-seconds", aws_rollout::DEFAULT_POLL),
                )
                .unwrap_or_else(|e| fail(&e)),
            ))
        }
        None => {
            let state_path = env("GATEWAY_STATE").unwrap_or_else(|| ".local/state.json".into());
            let state: Value = std::fs::read(&state_path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_else(|| {
                    fail(&format!(
                        "{state_path} not found: start the stack with scripts/run.sh first (or name a deployed stack's rollout object with --s3-uri)"
                    ))
                });
            Which::Local(Local::from_state(&state).unwrap_or_else(|e| fail(&e)))
        }
    };
    let target: &dyn Target = match &which {
        Which::Local(l) => l,
        Which::Aws(a) => a.as_ref(),
    };
    match sub {
        Some("status") => print(
            &match &which {
                Which::Local(l) => l.status(),
                Which::Aws(a) => a.status(),
            }
            .unwrap_or_else(|e| fail(&e)),
        ),
        Some("set") => {
            let w = match opts.get("--weight") {
                Some(v) => v
                    .parse::<u8>()
                    .ok()
                    .filter(|w| *w <= 100)
                    .unwrap_or_else(|| fail("--weight must be 0-100")),
                None if kill => match &which {
                    Which::Local(l) => l.read_state().map(|s| s.weight_percent).unwrap_or(0),
                    Which::Aws(a) => a.read_state().map(|s| s.weight_percent).unwrap_or(0),
                },
                None => fail("set needs --weight N (0-100) or --kill"),
            };
            print(&target.set(w, kill).unwrap_or_else(|e| fail(&e)));
        }
        Some("ramp") => {
            let steps: Vec<u8> = opts
                .get("--steps")
                .map(String::as_str)
                .unwrap_or("1,5,25,50,100")
                .split(',')
                .map(|s| {
                    s.trim()
                        .parse::<u8>()
                        .ok()
                        .filter(|w| *w <= 100)
                        .unwrap_or_else(|| fail("--steps: weights 0-100, comma-separated"))
                })
                .collect();
            if steps.windows(2).any(|w| w[0] >= w[1]) {
                fail("--steps must increase");
            }
            let r = Ramp {
                steps,
                bake: std::time::Duration::from_secs_f64(num("--bake-seconds").unwrap_or(60.0)),
                max_error_rate: num("--max-error-rate").unwrap_or(0.01),
                min_requests: num("--min-requests").unwrap_or(10.0) as u64,
            };
            match rollout::ramp(target, &r, &mut |v| print(v)) {
                Ok(v) => print(&v),
                Err(v) => {
                    print(&v);
                    eprintln!(
                        "gateway: rollout ramp rolled back: {}",
                        v["reason"].as_str().or(v["error"].as_str()).unwrap_or("")
                    );
                    std::process::exit(1);
                }
            }
        }
        _ => fail("usage: gateway rollout status | set --weight N [--kill] | ramp --steps … --bake-seconds S --max-error-rate R [--min-requests N] [--s3-uri s3://bucket/rollout.json --namespace NS …]"),
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
    // (emulated, in process: see pipeline::EmulatedFlush).
    let sign_out = match (
        &csettings.revocation_table,
        &csettings.user_pool_id,
        sdk.credentials_provider(),
    ) {
        (Some(_), Some(pool), Some(creds)) => {
            let ep = env("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER")
                .or_else(|| env("AWS_ENDPOINT_URL"))
                .unwrap_or_else(|| {
                    format!(
                        "https://cognito-idp.{}.amazonaws.com",
                        sdk.region().map(|r| r.to_string()).unwrap_or_default()
                    )
                });
            let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
            Some(
                crud::aws_hooks::AwsHooks::new(creds, region, None, Some((ep, pool.clone())))
                    .unwrap_or_else(|e| fail(&format!("crud sign-out client: {e}"))),
            )
        }
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

    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => fail(&format!(
            "port {port} on 127.0.0.1 is in use: stop the other process or set GATEWAY_PORT"
        )),
        Err(e) => fail(&format!("cannot listen on {addr}: {e}")),
    };
    let local = listener.local_addr().unwrap_or(addr);
    let gw = Arc::new(Gateway::new(settings, edge, auth, crud).with_canary_crud(canary_crud));
    tokio::spawn(gateway::rollout::run_background(
        gw.clone(),
        env("GATEWAY_HEALTH_FILE").map(Into::into),
    ));
    eprintln!("gateway: listening on http://{local}");
    // The regional API endpoint (API Gateway without CloudFront), for origin-bypass checks.
    if let Some(api_port) = env("GATEWAY_API_PORT") {
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
