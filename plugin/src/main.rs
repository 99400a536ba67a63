//! `kubectl pxo`: a kubectl plugin for ProxyOrders. It shows a ProxyOrder with everything it
//! depends on (`status`, `trace`) and asks the operator for the things users otherwise do with
//! raw annotations (`approve`, `rotate`, `sync`, `pause`, `resume`), saying what will happen.
//!
//! It talks to the API server only, with the user's kubeconfig and rights, never to the
//! provider, and never prints a password or an API key: of a Secret it shows the keys only.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod actions;
mod cluster;
mod trace;

/// Show and steer ProxyOrders (proxy-solutions.net) from the command line.
#[derive(Parser, Debug)]
#[command(
    name = "kubectl-pxo",
    bin_name = "kubectl pxo",
    version,
    after_help = "Examples:
  kubectl pxo status web -n team-a          the ProxyOrder and what it depends on
  kubectl pxo status web -o json            the same for scripts
  kubectl pxo approve web                   approve the change the cost guardrail holds
  kubectl pxo rotate web                    a new generated password
  kubectl pxo sync web                      re-read the order from the provider now
  kubectl pxo pause web; kubectl pxo resume web

Errors go to stderr and exit 1 (2 for a command line that does not parse)."
)]
struct Cli {
    #[command(flatten)]
    connect: cluster::ConnectArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show a ProxyOrder and what it depends on.
    ///
    /// As a tree (or -o json|yaml): its provider (ProxyProvider or API-key Secret, never the
    /// key), its order claim, the order as last read, the credentials Secret (keys, never
    /// values), the rollout targets and their credentials hashes, the conditions, held changes,
    /// tokens not carried out yet and the latest Events. A part you may not read is named as
    /// such.
    #[command(visible_alias = "trace")]
    Status {
        /// The ProxyOrder's name.
        name: String,
        /// Output format.
        #[arg(short = 'o', long, value_enum, default_value_t = trace::Format::Tree)]
        output: trace::Format,
        /// How many of the latest Events to show.
        #[arg(long, default_value_t = 10)]
        events: usize,
    },
    /// Approve a change the cost guardrail holds back.
    ///
    /// Shows each held change of `status.plannedChanges` (field, from, to, limit, where it is
    /// approved, hash) and, once confirmed, adds its hash to the `proxy-solutions.net/approve`
    /// annotation. The operator then sends it once, as soon as nothing else holds it.
    Approve {
        /// The ProxyOrder's name.
        name: String,
        /// Approve every held change (without it: the only one held, or those named by --hash).
        #[arg(long, conflicts_with = "hash")]
        all: bool,
        /// Approve the held change with this hash (repeatable).
        #[arg(long)]
        hash: Vec<String>,
        /// Do not ask for confirmation (for scripts).
        #[arg(short = 'y', long)]
        yes: bool,
        /// Also annotate the ProxyProvider for changes above the ProxyProvider's `maxQuantity`
        /// (needs the right to patch ProxyProviders, which tenants do not have).
        #[arg(long)]
        on_provider: bool,
    },
    /// Ask for one new provider-generated password.
    ///
    /// Sets `proxy-solutions.net/rotate-password` to a fresh token. Refused for a password
    /// from `spec.password.secretKeyRef` and for `managementPolicy: Observe`.
    Rotate {
        /// The ProxyOrder's name.
        name: String,
    },
    /// Ask for a re-read of the order from the provider now.
    ///
    /// Sets `proxy-solutions.net/sync-requested-at` to a fresh token.
    Sync {
        /// The ProxyOrder's name.
        name: String,
    },
    /// Stop provider calls and writes for a ProxyOrder.
    ///
    /// Sets `proxy-solutions.net/paused: "true"`: no provider call and no write but the status
    /// until `resume`.
    Pause {
        /// The ProxyOrder's name.
        name: String,
    },
    /// Undo `pause`.
    ///
    /// Removes `proxy-solutions.net/paused`.
    Resume {
        /// The ProxyOrder's name.
        name: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let cluster = cli.connect.connect().await?;
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Status {
            name,
            output,
            events,
        } => trace::run(&cluster, &name, output, events, &mut out).await,
        Command::Approve {
            name,
            all,
            hash,
            yes,
            on_provider,
        } => {
            let select = if all {
                actions::Select::All
            } else if hash.is_empty() {
                actions::Select::Only
            } else {
                actions::Select::Hashes(hash)
            };
            let confirm = actions::Confirm::new(yes);
            actions::approve(&cluster, &name, select, on_provider, confirm, &mut out).await
        }
        Command::Rotate { name } => actions::rotate(&cluster, &name, &mut out).await,
        Command::Sync { name } => actions::sync(&cluster, &name, &mut out).await,
        Command::Pause { name } => actions::pause(&cluster, &name, true, &mut out).await,
        Command::Resume { name } => actions::pause(&cluster, &name, false, &mut out).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn connection_flags_go_anywhere_after_the_plugin_name() {
        let cli = Cli::try_parse_from([
            "kubectl-pxo",
            "status",
            "web",
            "-n",
            "team-a",
            "--context",
            "kind-x",
            "-o",
            "json",
        ])
        .unwrap();
        assert_eq!(cli.connect.namespace.as_deref(), Some("team-a"));
        assert_eq!(cli.connect.context.as_deref(), Some("kind-x"));
        assert!(matches!(
            cli.command,
            Command::Status {
                output: trace::Format::Json,
                ..
            }
        ));
        let cli = Cli::try_parse_from(["kubectl-pxo", "-n", "b", "trace", "web"]).unwrap();
        assert_eq!(cli.connect.namespace.as_deref(), Some("b"));
        assert!(
            Cli::try_parse_from(["kubectl-pxo", "approve", "web", "--all", "--hash", "x"]).is_err()
        );
        assert!(
            Cli::try_parse_from(["kubectl-pxo", "status"]).is_err(),
            "a name is needed"
        );
    }
}
