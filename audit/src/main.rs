//! `audit`: the audit on its own, for a security tester who builds only this crate
//! (`cargo run --release -p audit -- --url … --api-url …`). The same arguments and exit status as
//! `gateway audit`.

use clap::Parser;

/// Attack a running stack and print a scorecard (`audit --help` for the targets and settings).
#[derive(Debug, Parser)]
#[command(name = "audit", version)]
struct Cli {
    #[command(flatten)]
    args: audit::cli::AuditArgs,
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                std::process::exit(0);
            }
            eprintln!("audit: {}", audit::cli::one_line(&e, "audit"));
            std::process::exit(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("audit: tokio runtime: {e}");
            std::process::exit(2);
        }
    };
    std::process::exit(rt.block_on(audit::cli::run(cli.args, "audit")));
}
