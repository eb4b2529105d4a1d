//! `softkey config`: print the effective configuration, where each value
//! came from, and which configuration file was read ([`crate::config`]).

use anyhow::Result;
use serde_json::{Map, Value as Json, json};

use crate::cli::ConfigArgs;
use crate::config::{ConfigFile, Effective, Source, Value};
use crate::text::table;

pub fn run(args: &ConfigArgs, effective: &Effective) -> Result<()> {
    if args.json {
        println!("{}", to_json(effective));
    } else {
        print!("{}", to_text(effective));
    }
    Ok(())
}

fn file_line(file: &ConfigFile) -> String {
    let named_by = match &file.source {
        Source::Default => String::new(),
        other => format!(", named by the {other}"),
    };
    match (&file.path, file.exists) {
        (Some(path), true) => format!("Configuration file: {} (read{named_by})", path.display()),
        (Some(path), false) => format!(
            "Configuration file: none (softkey would read {}{named_by})",
            path.display()
        ),
        (None, _) => {
            "Configuration file: none (set HOME or XDG_CONFIG_HOME, or pass --config FILE)"
                .to_owned()
        }
    }
}

fn to_text(effective: &Effective) -> String {
    let rows: Vec<[String; 3]> = effective
        .settings
        .iter()
        .map(|s| [s.key.to_owned(), s.value.to_string(), s.source.to_string()])
        .collect();
    let mut out = file_line(&effective.file);
    out.push_str("\n\n");
    out.push_str(&table(["SETTING", "VALUE", "SOURCE"], &rows));
    out
}

fn to_json(effective: &Effective) -> Json {
    let mut settings = Map::new();
    for s in &effective.settings {
        let mut entry = Map::new();
        let value = match &s.value {
            Value::Text(t) => Json::from(t.as_str()),
            Value::Bool(b) => Json::from(*b),
            Value::Number(n) => Json::from(*n),
            Value::Unset(why) => {
                entry.insert("note".into(), Json::from(*why));
                Json::Null
            }
        };
        entry.insert("value".into(), value);
        entry.insert("source".into(), Json::from(s.source.to_string()));
        if let Source::File { line, .. } = &s.source {
            entry.insert("line".into(), Json::from(*line));
        }
        settings.insert(s.key.into(), Json::Object(entry));
    }
    let file = &effective.file;
    json!({
        "config_file": {
            "path": file.path.as_ref().map(|p| p.display().to_string()),
            "exists": file.exists,
            "source": file.source.to_string(),
        },
        "settings": settings,
    })
}
