//! `--config FILE`: the host's settings from a TOML file, such as the host package's
//! `/etc/lancall/host.toml`.
//!
//! Each key is a long option of `lancall-host --help` without its dashes, and takes what the
//! option takes: `name = "Kitchen"`, `topology = "auto"`, `media-port = 7443`, `open = true`,
//! `interface = ["eth0"]` (a list for an option that may be repeated). The file is turned into the
//! arguments it stands for and read by the same option definitions as the command line, so its
//! values are checked the same way and there is no second list of settings to keep in step.
//! Then, option by option, what the command line or the environment (`LANCALL_DATA_DIR`,
//! `LANCALL_TOPOLOGY`) says wins over the file, and the file wins over the defaults.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, Command};

/// The option that names the file (global: `lancall-host --config F ca` shows the CA of the
/// data folder the file names).
pub const CONFIG_ARG: &str = "config";

/// Parses the command line into `T`, taking what a `--config FILE` holds for the options the
/// command line and the environment leave unset. Exits with clap's usage error (status 2) when
/// the command line or the file is wrong, as for any other bad option.
pub fn parse<T: clap::Parser>() -> T {
    let args: Vec<OsString> = std::env::args_os().collect();
    let command = T::command();
    let matches = command.clone().get_matches_from(&args);
    let merged = match matches.get_one::<PathBuf>(CONFIG_ARG) {
        None => args,
        Some(path) => match read(path).and_then(|text| with_file(&command, &matches, &args, path, &text)) {
            Ok(merged) => merged,
            Err(why) => command.clone().error(clap::error::ErrorKind::InvalidValue, why).exit(),
        },
    };
    T::parse_from(merged)
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read the settings file {}: {e}", path.display()))
}

/// The whole argument list: `args` (the command line as given, program name first) with the
/// file's settings put in front of it, less each setting the command line or the environment
/// already gives (or that conflicts with one it gives). Errors are sentences naming the file.
pub fn with_file(command: &Command, matches: &ArgMatches, args: &[OsString], path: &Path, text: &str) -> Result<Vec<OsString>, String> {
    let settings = file_settings(command, path, text)?;
    // The file alone, through the real definitions: a bad value is reported against the file.
    let mut alone = vec![OsString::from("lancall-host")];
    alone.extend(settings.iter().flat_map(|(_, a)| a.iter().cloned()));
    if let Err(e) = command.clone().try_get_matches_from(&alone) {
        let first = e.to_string().lines().next().unwrap_or_default().trim_start_matches("error: ").to_string();
        return Err(format!("in {}: {first} (each key is one of the long options without its dashes)", path.display()));
    }
    let given = |arg: &Arg| {
        matches!(
            matches.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    };
    let mut merged = Vec::with_capacity(args.len() + settings.len() * 2);
    merged.extend(args.first().cloned());
    for (arg, setting) in &settings {
        let overridden = given(arg) || command.get_arg_conflicts_with(arg).into_iter().any(given);
        if !overridden {
            merged.extend(setting.iter().cloned());
        }
    }
    merged.extend(args.iter().skip(1).cloned());
    Ok(merged)
}

/// Each key of the file with the arguments it stands for, in the order of the keys.
fn file_settings<'c>(command: &'c Command, path: &Path, text: &str) -> Result<Vec<(&'c Arg, Vec<OsString>)>, String> {
    let file = path.display();
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| format!("{file} is not valid TOML: {}", e.message()))?;
    let mut settings = Vec::new();
    for (key, value) in &table {
        let arg = command
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()) && !matches!(key.as_str(), CONFIG_ARG | "help" | "version"))
            .ok_or_else(|| format!("{file}: `{key}` is not a setting: each key is one of the long options of `lancall-host --help`, without its dashes"))?;
        let flag = format!("--{key}");
        let mut words = Vec::new();
        if !arg.get_action().takes_values() {
            match value {
                toml::Value::Boolean(true) => words.push(OsString::from(&flag)),
                toml::Value::Boolean(false) => {}
                _ => return Err(format!("{file}: `{key}` is a switch: write `{key} = true` or `{key} = false`")),
            }
        } else {
            let values = match value {
                toml::Value::Array(items) if matches!(arg.get_action(), clap::ArgAction::Append) => items.iter().collect(),
                toml::Value::Array(_) => return Err(format!("{file}: `{key}` takes one value, not a list")),
                one => vec![one],
            };
            for v in values {
                let text = match v {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Integer(n) => n.to_string(),
                    toml::Value::Float(f) => f.to_string(),
                    _ => return Err(format!("{file}: `{key}` takes a string or a number")),
                };
                words.push(OsString::from(&flag));
                words.push(OsString::from(text));
            }
        }
        settings.push((arg, words));
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use clap::CommandFactory;

    fn merged(cli: &[&str], file: &str) -> Result<Vec<String>, String> {
        let command = crate::Cli::command();
        let args: Vec<OsString> = cli.iter().map(OsString::from).collect();
        let matches = command.clone().try_get_matches_from(&args).unwrap();
        let out = with_file(&command, &matches, &args, Path::new("/etc/lancall/host.toml"), file)?;
        Ok(out.into_iter().map(|a| a.into_string().unwrap()).collect())
    }

    #[test]
    fn the_file_fills_in_what_the_command_line_leaves_unset() {
        let out = merged(&["lancall-host", "--name", "Attic", "--json"], "name = \"Kitchen\"\nroom = \"family\"\ntopology = \"auto\"\nmedia-port = 7443\nopen = true\nno-mdns = false\ninterface = [\"eth0\", \"wlan0\"]\n").unwrap();
        assert_eq!(
            out,
            [
                "lancall-host", "--interface", "eth0", "--interface", "wlan0", "--media-port", "7443", "--open",
                "--room", "family", "--topology", "auto", "--name", "Attic", "--json"
            ]
        );
    }

    #[test]
    fn an_option_given_on_the_command_line_drops_the_settings_that_conflict_with_it() {
        // `no-http` in the file, `--http-listen` on the command line: the command line wins.
        let out = merged(&["lancall-host", "--http-listen", "127.0.0.1:8080"], "no-http = true\n").unwrap();
        assert_eq!(out, ["lancall-host", "--http-listen", "127.0.0.1:8080"]);
    }

    #[test]
    fn mistakes_in_the_file_are_sentences_that_name_the_file_and_the_key() {
        let unknown = merged(&["lancall-host"], "nmae = \"Kitchen\"\n").unwrap_err();
        assert!(unknown.contains("/etc/lancall/host.toml") && unknown.contains("`nmae` is not a setting"), "{unknown}");
        let bad_value = merged(&["lancall-host"], "topology = \"star\"\n").unwrap_err();
        assert!(bad_value.contains("in /etc/lancall/host.toml") && bad_value.contains("star"), "{bad_value}");
        let out_of_range = merged(&["lancall-host"], "capacity = 1000\n").unwrap_err();
        assert!(out_of_range.contains("1000"), "{out_of_range}");
        let switch = merged(&["lancall-host"], "open = \"yes\"\n").unwrap_err();
        assert!(switch.contains("`open = true`"), "{switch}");
        let list = merged(&["lancall-host"], "name = [\"a\", \"b\"]\n").unwrap_err();
        assert!(list.contains("one value"), "{list}");
        let toml = merged(&["lancall-host"], "name = \n").unwrap_err();
        assert!(toml.contains("not valid TOML"), "{toml}");
        let itself = merged(&["lancall-host"], "config = \"/etc/other.toml\"\n").unwrap_err();
        assert!(itself.contains("`config` is not a setting"), "{itself}");
    }
}
