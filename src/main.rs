use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match nubo::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap's help and version requests are not errors.
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    nubo::cli::run(cli)
}
