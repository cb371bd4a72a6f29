//! The client commands of the `tollgate` binary: `balance`, `history`,
//! `tools`, `call`, `trigger` and `run`, talking to a server over its API
//! with `TOLLGATE_URL` and `TOLLGATE_TOKEN`. Human-readable on a terminal,
//! `--json` for machines; an error is one line and a non-zero exit.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};
use tollgate_client::{Client, PurchaseOptions, TriggerRequest};

/// Where the server is and who is calling.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The server's base URL.
    #[arg(long, env = "TOLLGATE_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// An API key or access token.
    #[arg(long, env = "TOLLGATE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print machine-readable JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Show the credit balance.
    Balance(ClientArgs),
    /// Show grants and transactions, newest first.
    History {
        #[command(flatten)]
        client: ClientArgs,
        /// How many of each to show (1-500).
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// List the tools the budget may use.
    Tools(ClientArgs),
    /// Buy and call a tool: `tollgate call calculator evaluate expression="6*7"`.
    Call {
        #[command(flatten)]
        client: ClientArgs,
        /// The tool's id, slug or name.
        tool: String,
        /// The action to perform.
        action: String,
        /// Parameters as key=value; values that parse as JSON are taken as JSON.
        params: Vec<String>,
        /// Make the call idempotent under this key.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Trigger a workflow run.
    Trigger {
        #[command(flatten)]
        client: ClientArgs,
        /// The workflow's id.
        workflow: String,
        /// The prompt.
        prompt: String,
        /// Wait for the run to end and print its response.
        #[arg(long)]
        wait: bool,
        /// An idempotency key for the trigger.
        #[arg(long)]
        request_id: Option<String>,
    },
    /// Show a run.
    Run {
        #[command(flatten)]
        client: ClientArgs,
        run_id: String,
    },
}

fn client(args: &ClientArgs) -> anyhow::Result<Client> {
    let token = args
        .token
        .clone()
        .ok_or_else(|| anyhow::anyhow!("no token: set TOLLGATE_TOKEN or pass --token"))?;
    Ok(Client::new(args.url.clone()).with_token(token))
}

fn print_json(v: &impl serde::Serialize) {
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_default()
    );
}

fn usd(credits: i64) -> String {
    format!("${:.2}", credits as f64 / 100.0)
}

/// `key=value` pairs as a JSON object.
pub fn parse_params(pairs: &[String]) -> anyhow::Result<Map<String, Value>> {
    let mut map = Map::new();
    for pair in pairs {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("parameter {pair:?} is not key=value"))?;
        anyhow::ensure!(!k.is_empty(), "parameter {pair:?} has no key");
        let value =
            serde_json::from_str::<Value>(v).unwrap_or_else(|_| Value::String(v.to_string()));
        map.insert(k.to_string(), value);
    }
    Ok(map)
}

/// Left-aligned columns, for terminals.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(headers.iter().map(|h| h.to_string()).collect())];
    out.extend(rows.iter().map(|r| line(r.clone())));
    out.join("\n")
}

fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// Runs a client command.
pub async fn run(cmd: ClientCommand) -> anyhow::Result<()> {
    match cmd {
        ClientCommand::Balance(args) => {
            let b = client(&args)?.balance().await?;
            if args.json {
                print_json(&b);
            } else {
                let expiry = match (&b.expiration, b.expires_in_days) {
                    (Some(e), Some(d)) => format!("; the next credits expire {e} (in {d} days)"),
                    _ => String::new(),
                };
                println!("{} credits ({}){expiry}", b.balance, usd(b.balance));
            }
        }
        ClientCommand::History {
            client: args,
            limit,
        } => {
            let h = client(&args)?.history(Some(limit)).await?;
            if args.json {
                print_json(&h);
            } else {
                let rows: Vec<Vec<String>> = h
                    .transactions
                    .iter()
                    .map(|t| {
                        vec![
                            t.date_created.clone(),
                            t.transaction_type.clone(),
                            format!("{:+}", t.amount_credits),
                            t.balance_after_credits.to_string(),
                        ]
                    })
                    .collect();
                println!("{}", table(&["DATE", "TYPE", "CREDITS", "BALANCE"], &rows));
            }
        }
        ClientCommand::Tools(args) => {
            let tools = client(&args)?.all_tools().await?;
            if args.json {
                print_json(&tools);
            } else {
                let rows: Vec<Vec<String>> = tools
                    .iter()
                    .map(|t| {
                        let actions = t
                            .actions
                            .iter()
                            .map(|a| format!("{} ({})", a.name, a.price_credits))
                            .collect::<Vec<_>>()
                            .join(", ");
                        vec![t.name.clone(), actions, shorten(&t.description, 60)]
                    })
                    .collect();
                println!(
                    "{}",
                    table(&["TOOL", "ACTIONS (CREDITS)", "DESCRIPTION"], &rows)
                );
            }
        }
        ClientCommand::Call {
            client: args,
            tool,
            action,
            params,
            idempotency_key,
        } => {
            let params = parse_params(&params)?;
            let options = PurchaseOptions {
                idempotency_key,
                instance_id: None,
            };
            let p = client(&args)?
                .purchase(&tool, &action, Value::Object(params), options)
                .await?;
            if args.json {
                print_json(&p);
            } else {
                print_json(&p.data);
                eprintln!("order {} · {} credits", p.order_id, p.price_credits);
            }
        }
        ClientCommand::Trigger {
            client: args,
            workflow,
            prompt,
            wait,
            request_id,
        } => {
            let c = client(&args)?;
            let t = c
                .trigger(
                    &workflow,
                    &TriggerRequest {
                        prompt,
                        request_id,
                        ..Default::default()
                    },
                )
                .await?;
            if !wait {
                if args.json {
                    print_json(
                        &json!({"run": t.run, "status_url": t.status_url, "replayed": t.replayed}),
                    );
                } else {
                    println!(
                        "run {} {}{}",
                        t.run.run_id,
                        t.run.status,
                        if t.replayed { " (existing run)" } else { "" }
                    );
                }
                return Ok(());
            }
            let spin = !args.json && std::io::stderr().is_terminal();
            let frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
            let mut tick = 0usize;
            let run = c
                .wait_for_run(&t.run.run_id, Duration::from_millis(250), |r| {
                    if spin {
                        eprint!(
                            "\r{} run {} {}   ",
                            frames[tick % frames.len()],
                            r.run_id,
                            r.status
                        );
                        tick += 1;
                    }
                })
                .await?;
            if spin {
                eprint!("\r\x1b[2K");
            }
            if args.json {
                print_json(&run);
            } else {
                print_run(&run);
            }
            anyhow::ensure!(
                run.status == tollgate_client::api::RunStatus::Succeeded,
                "run {} {}",
                run.run_id,
                run.status
            );
        }
        ClientCommand::Run {
            client: args,
            run_id,
        } => {
            let run = client(&args)?.run(&run_id).await?;
            if args.json {
                print_json(&run);
            } else {
                print_run(&run);
            }
        }
    }
    Ok(())
}

fn print_run(run: &tollgate_client::Run) {
    match run.status.as_str() {
        "succeeded" => println!("{}", run.response_text.as_deref().unwrap_or("")),
        "failed" | "cancelled" => println!(
            "run {} {}: {} {}",
            run.run_id,
            run.status,
            run.error_code.as_deref().unwrap_or(""),
            run.error_message.as_deref().unwrap_or("")
        ),
        other => println!("run {} {other}", run.run_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_parameters_take_json_values_where_they_parse() {
        let p = parse_params(&[
            "expression=6*7".into(),
            "n=3".into(),
            "flag=true".into(),
            "obj={\"a\":1}".into(),
            "s=hello world".into(),
        ])
        .unwrap();
        assert_eq!(
            Value::Object(p),
            json!({"expression": "6*7", "n": 3, "flag": true, "obj": {"a": 1}, "s": "hello world"})
        );
        assert!(parse_params(&["novalue".into()]).is_err());
    }

    #[test]
    fn tables_align_columns() {
        let t = table(&["A", "BB"], &[vec!["long".into(), "x".into()]]);
        assert_eq!(t, "A     BB\nlong  x");
    }
}
