//! What a reader relies on beside the code matches the binary: the man pages in `man/`,
//! the README's table of `serve` options, an example in every subcommand's `--help`, the
//! JSON Schema of `hookrelay schema` judged by a third-party validator against `validate`,
//! and the environment variables of the options that lacked one.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use clap::CommandFactory;
use serde_json::Value;
use support::{Customer, Served, hookrelay};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn stdout_of(args: &[&str]) -> String {
    let output = hookrelay()
        .args(args)
        .timeout(support::DEADLINE)
        .output()
        .unwrap_or_else(|e| panic!("running hookrelay {args:?}: {e}"));
    assert_eq!(output.status.code(), Some(0), "hookrelay {args:?}");
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

fn files_in(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("a directory entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&path).unwrap_or_default())
        })
        .collect()
}

#[test]
fn committed_man_pages_match_the_binary() {
    let fresh = tempfile::tempdir().unwrap();
    let dir = fresh.path().to_str().unwrap();
    stdout_of(&["man", dir]);

    let generated = files_in(fresh.path());
    let committed = files_in(&Path::new(ROOT).join("man"));

    for page in ["hookrelay.1", "hookrelay-serve.1", "hookrelay-schema.1"] {
        assert!(
            generated.contains_key(page),
            "no {page} among {generated:?}"
        );
    }
    let stale: Vec<&String> = generated
        .keys()
        .chain(committed.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|page| generated.get(*page) != committed.get(*page))
        .collect();
    assert!(
        stale.is_empty(),
        "man/ is stale ({stale:?}); regenerate it with:\n  \
         rm -rf man && cargo run -q -- man man"
    );
}

#[test]
fn every_subcommand_shows_an_example_in_its_help() {
    fn walk(command: &clap::Command, path: String, missing: &mut Vec<String>) {
        for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
            let path = format!("{path} {}", sub.get_name());
            let help = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            if !help.contains("Example") {
                missing.push(path.clone());
            }
            walk(sub, path, missing);
        }
    }
    let mut missing = Vec::new();
    walk(
        &hookrelay::cli::Cli::command(),
        "hookrelay".into(),
        &mut missing,
    );
    assert!(missing.is_empty(), "no example in --help of {missing:?}");

    let help = stdout_of(&["secret", "new", "--help"]);
    assert!(help.contains("hookrelay secret new >"), "{help}");
}

/// `--option` → (environment variable, default), as `serve --help` states them.
fn options_in_help() -> BTreeMap<String, (Option<String>, Option<String>)> {
    let help = stdout_of(&["serve", "--help"]);
    let mut options = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in help.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if (2..=6).contains(&indent) && trimmed.starts_with('-') {
            let long = trimmed
                .split([',', ' '])
                .find(|word| word.starts_with("--"))
                .expect("a long option")
                .to_string();
            options.insert(long.clone(), (None, None));
            current = Some(long);
        } else if let Some(option) = &current {
            let entry = options.get_mut(option).unwrap();
            if let Some(env) = trimmed.strip_prefix("[env: ") {
                let name = env.trim_end_matches(']').split('=').next().unwrap();
                entry.0 = Some(name.to_string());
            } else if let Some(default) = trimmed.strip_prefix("[default: ") {
                entry.1 = Some(default.trim_end_matches(']').to_string());
            }
        }
        if trimmed.starts_with("Examples:") {
            break;
        }
    }
    options.remove("--help");
    options
}

/// The same from the README's table under "### Options of `serve`": the default only when
/// the cell is one code span.
fn options_in_readme() -> BTreeMap<String, (Option<String>, Option<String>)> {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let table = readme
        .split("### Options of `serve`")
        .nth(1)
        .expect("README has a section \"### Options of `serve`\"");
    let code = |cell: &str| {
        let cell = cell.trim();
        (cell.len() > 1
            && cell.starts_with('`')
            && cell.ends_with('`')
            && cell.matches('`').count() == 2)
            .then(|| cell.trim_matches('`').to_string())
    };
    table
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2)
        .map(|row| {
            let cells: Vec<&str> = row.split(" | ").collect();
            let option = cells[0].trim_start_matches("| `");
            let long = option.split([' ', '`']).next().unwrap().to_string();
            (long, (code(cells[1]), code(cells[2])))
        })
        .collect()
}

#[test]
fn the_readme_table_lists_every_serve_option_with_its_variable_and_default() {
    let help = options_in_help();
    let readme = options_in_readme();
    assert!(
        help.len() > 20,
        "parsed too few options from --help: {help:?}"
    );

    let in_help: BTreeSet<_> = help.keys().collect();
    let in_readme: BTreeSet<_> = readme.keys().collect();
    assert_eq!(
        in_help.difference(&in_readme).collect::<Vec<_>>(),
        Vec::<&&String>::new(),
        "options of `serve --help` missing from the README table"
    );
    assert_eq!(
        in_readme.difference(&in_help).collect::<Vec<_>>(),
        Vec::<&&String>::new(),
        "README table rows that `serve --help` does not know"
    );
    for (option, (env, default)) in &help {
        let (readme_env, readme_default) = &readme[option];
        assert!(env.is_some(), "{option} has no environment variable");
        assert_eq!(env, readme_env, "environment variable of {option}");
        if default.is_some() {
            assert_eq!(default, readme_default, "default of {option}");
        }
    }
}

/// `validate --format json` on one file: per event (one for an object, one per element
/// for an array), whether it is valid; `None` when the file is not JSON at all.
fn validate_verdicts(path: &Path, count: usize) -> Vec<bool> {
    let output = hookrelay()
        .args(["validate", "--format", "json"])
        .arg(path)
        .timeout(support::DEADLINE)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).expect("validate's JSON report");
    let errors = report["files"][0]["errors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    (0..count)
        .map(|i| {
            !errors.iter().any(|e| {
                let field = e["field"].as_str().unwrap();
                field.starts_with(&format!("[{i}]")) || !field.starts_with('[')
            })
        })
        .collect()
}

/// Where JSON Schema and `validate` part ways, by design: the README lists these under
/// "What only `validate` checks". Each is (fixture, element, why).
const ONLY_VALIDATE: &[(&str, usize, &str)] = &[(
    "id_float.json",
    0,
    "123.0 is an integer to JSON Schema; validate wants an integer literal",
)];

#[test]
fn the_schema_and_validate_agree_on_every_fixture() {
    let schema: Value = serde_json::from_str(&stdout_of(&["schema"])).expect("schema is JSON");
    jsonschema::draft202012::meta::validate(&schema).expect("a valid 2020-12 schema");
    let validator = jsonschema::draft202012::new(&schema).expect("a usable schema");

    let mut judged = 0;
    let mut disagreements = Vec::new();
    let fixtures = Path::new(ROOT).join("tests/fixtures");
    let mut paths: Vec<_> = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for path in paths {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let bytes = std::fs::read(&path).unwrap();
        let by_schema: Vec<bool> = match serde_json::from_slice::<Value>(&bytes) {
            // Not JSON: nothing for a schema to judge, invalid to both.
            Err(_) => vec![false],
            Ok(Value::Array(events)) => events.iter().map(|e| validator.is_valid(e)).collect(),
            Ok(event) => vec![validator.is_valid(&event)],
        };
        let by_validate = validate_verdicts(&path, by_schema.len());
        for (i, (schema_says, validate_says)) in by_schema.iter().zip(&by_validate).enumerate() {
            judged += 1;
            let known = ONLY_VALIDATE.iter().any(|(f, e, _)| *f == name && *e == i);
            if known {
                assert!(
                    *schema_says && !validate_says,
                    "{name}[{i}] is listed as valid to the schema only, but schema says \
                     {schema_says}, validate says {validate_says}"
                );
            } else if schema_says != validate_says {
                disagreements.push(format!(
                    "{name}[{i}]: schema says {schema_says}, validate says {validate_says}"
                ));
            }
        }
    }
    assert!(judged >= 20, "only {judged} events judged");
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}

#[test]
fn the_schema_pattern_takes_the_timestamps_that_validate_takes() {
    let schema: Value = serde_json::from_str(&stdout_of(&["schema"])).unwrap();
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    let timestamps = [
        "2023-10-05T12:34:56",
        "2023-10-05t12:34:56z",
        "2023-10-05 12:34",
        "2023-10-05T12:34:56.1",
        "2023-10-05T12:34:56.123456789+02:00",
        "2023-10-05T12:34:56.1234567890",
        "2023-10-05T12:34:56+0200",
        "2023-10-05T12:34:56-05:00",
        "2023-10-05T12:34:56+24:00",
        "2023-10-05T12:34:60",
        "2023-10-05T23:59",
        "2023-10-05T12",
        "2023-10-05T12:34:56.",
        "2023-10-05T12:34:56 ",
        " 2023-10-05T12:34:56",
        "2024-02-29T00:00",
        "2023-02-29T00:00",
        "2000-02-29T00:00",
        "1900-02-29T00:00",
        "2023-04-31T00:00",
        "2023-12-31T00:00",
        "2023-00-10T00:00",
        "2023-10-00T00:00",
        "0000-01-01T00:00",
        "23-10-05T12:34:56",
        "2023-W40-4T12:34:56",
        "2023-278T12:34:56",
        "2023-10-05T12:34:56Z\n",
        "",
    ];
    let events: Vec<Value> = timestamps
        .iter()
        .enumerate()
        .map(|(i, ts)| {
            serde_json::json!({"event_id": i, "timestamp": ts, "event_type": "t", "description": ""})
        })
        .collect();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec(&events).unwrap()).unwrap();

    let by_validate = validate_verdicts(file.path(), events.len());
    let differ: Vec<String> = events
        .iter()
        .zip(&by_validate)
        .filter(|(event, validate_says)| validator.is_valid(event) != **validate_says)
        .map(|(event, validate_says)| format!("{} (validate: {validate_says})", event["timestamp"]))
        .collect();
    assert!(
        differ.is_empty(),
        "schema and validate differ on {differ:?}"
    );
    assert!(by_validate.iter().any(|v| *v) && by_validate.iter().any(|v| !*v));
}

#[test]
fn secret_file_can_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets.txt");
    std::fs::write(&secrets, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n").unwrap();
    let body = dir.path().join("body.json");
    std::fs::write(&body, support::event(1)).unwrap();
    let sign = ["sign", "--id", "msg_1", "--timestamp", "1614265330"];

    let by_flag = hookrelay()
        .args(sign)
        .arg("--secret-file")
        .arg(&secrets)
        .arg(&body)
        .assert()
        .success();
    let by_env = hookrelay()
        .args(sign)
        .arg(&body)
        .env("HOOKRELAY_SECRET_FILE", &secrets)
        .assert()
        .success();

    let headers = String::from_utf8_lossy(&by_env.get_output().stdout).into_owned();
    assert!(headers.contains("webhook-signature: v1,"), "{headers}");
    assert_eq!(
        headers,
        String::from_utf8_lossy(&by_flag.get_output().stdout)
    );

    hookrelay()
        .args(sign)
        .arg(&body)
        .env("HOOKRELAY_SECRET_FILE", dir.path().join("absent.txt"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains("absent.txt"));
}

#[tokio::test]
async fn forward_headers_can_come_from_the_environment_one_a_line() {
    let customer = Customer::start();
    let target = customer.url("/hook");
    let served = Served::start_with_env(
        &[],
        &[
            ("HOOKRELAY_FORWARD_TO", target.as_str()),
            (
                "HOOKRELAY_FORWARD_HEADER",
                "X-Team: ops, billing\nAuthorization: Bearer t0ken",
            ),
        ],
    );

    let (status, _) = support::post_json(&served.url("/webhook"), support::event(7)).await;
    assert_eq!(status, 200);

    let arrived = customer.wait_for_async(1).await;
    assert_eq!(arrived[0].header("x-team"), Some("ops, billing"));
    assert_eq!(arrived[0].header("authorization"), Some("Bearer t0ken"));
}
