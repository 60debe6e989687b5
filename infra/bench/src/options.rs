//! Command-line options.

use std::path::PathBuf;

use crate::measure::Plan;

pub const USAGE: &str = "\
usage: bench [--cold-starts N] [--warmup N] [--iterations N] [--only NAME]... [--bin-dir DIR]
             [--root DIR] [--ab-dir DIR]

Measures every function under functions/: binary size, init time over N cold starts,
peak RSS, and warm invocation latency with events/<name>.json, against a local stand-in
for the Lambda Runtime API. Build the binaries first (cargo build --release -p <name>).

  --cold-starts N  cold starts timed per function            (default 20)
  --warmup N       untimed warm invocations before timing    (default 100)
  --iterations N   timed warm invocations per function       (default 2000)
  --only NAME      only this function; repeat or comma-separate for several
  --bin-dir DIR    where the binaries are (default: $CARGO_TARGET_DIR or <root>/target, + /release)
  --root DIR       the workspace with functions/ and events/ (default: the one bench was built in)
  --ab-dir DIR     also start each function found in DIR (a variant built without metrics)
                   alternately with its release binary, 2 × --cold-starts times each
  -h, --help       this text";

#[derive(Debug, PartialEq)]
pub struct Options {
    pub plan: Plan,
    pub only: Vec<String>,
    pub bin_dir: Option<PathBuf>,
    pub root: Option<PathBuf>,
    /// Variants of functions to start alternately with them (see `ab`).
    pub ab_dir: Option<PathBuf>,
}

impl Options {
    /// Parses the arguments after the program name; `Ok(None)` when help was asked for.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Self>, String> {
        let mut options = Self {
            plan: Plan { cold_starts: 20, warmup: 100, iterations: 2000 },
            only: Vec::new(),
            bin_dir: None,
            root: None,
            ab_dir: None,
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline_value) = match arg.split_once('=') {
                Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
                None => (arg, None),
            };
            if flag == "-h" || flag == "--help" {
                return Ok(None);
            }
            let value = inline_value.or_else(|| args.next()).ok_or_else(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--cold-starts" => options.plan.cold_starts = positive(&flag, &value)?,
                "--warmup" => options.plan.warmup = count(&flag, &value)?,
                "--iterations" => options.plan.iterations = positive(&flag, &value)?,
                "--only" => options.only.extend(value.split(',').filter(|name| !name.is_empty()).map(str::to_owned)),
                "--bin-dir" => options.bin_dir = Some(PathBuf::from(value)),
                "--root" => options.root = Some(PathBuf::from(value)),
                "--ab-dir" => options.ab_dir = Some(PathBuf::from(value)),
                _ => return Err(format!("unknown option {flag}")),
            }
        }
        Ok(Some(options))
    }
}

fn count(flag: &str, value: &str) -> Result<usize, String> {
    value.parse().map_err(|_| format!("{flag} expects a whole number, not {value:?}"))
}

fn positive(flag: &str, value: &str) -> Result<usize, String> {
    match count(flag, value)? {
        0 => Err(format!("{flag} must be at least 1")),
        n => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Options>, String> {
        Options::parse(args.iter().map(|arg| (*arg).to_owned()))
    }

    #[test]
    fn defaults_measure_twenty_cold_starts_and_two_thousand_invocations() {
        let options = parse(&[]).unwrap().unwrap();
        assert_eq!(options.plan, Plan { cold_starts: 20, warmup: 100, iterations: 2000 });
        assert!(options.only.is_empty());
        assert_eq!(options.bin_dir, None);
        assert_eq!(options.root, None);
    }

    #[test]
    fn flags_take_separate_or_inline_values() {
        let options = parse(&[
            "--iterations",
            "50",
            "--cold-starts=3",
            "--warmup",
            "0",
            "--only",
            "health,vote",
            "--only=login",
            "--bin-dir",
            "/tmp/bin",
            "--root=/tmp/ws",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(options.plan, Plan { cold_starts: 3, warmup: 0, iterations: 50 });
        assert_eq!(options.only, ["health", "vote", "login"]);
        assert_eq!(options.bin_dir, Some(PathBuf::from("/tmp/bin")));
        assert_eq!(options.root, Some(PathBuf::from("/tmp/ws")));
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(parse(&["--iterations", "0"]).is_err());
        assert!(parse(&["--iterations", "many"]).is_err());
        assert!(parse(&["--only"]).is_err());
        assert!(parse(&["--fast"]).is_err());
        assert_eq!(parse(&["--help"]), Ok(None));
    }
}
