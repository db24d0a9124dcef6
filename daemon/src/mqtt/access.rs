//! Who may use the locked embedded broker, and for what: the policy as a
//! pure value (docs/mqtt.md, "A locked broker"). No sockets, no hashing,
//! no files here: `gate.rs` verifies passwords and asks this file what a
//! logged-in user may publish and subscribe to.
//!
//! Two roles. An *admin* (the daemon's own `[mqtt] username`, and the
//! password file's users named in `[mqtt] admins`) may do anything: it is
//! the daemon, `easel ctl`/`deploy`, Home Assistant. A *controller* (every
//! other user of the password file) logs in with its controller id as the
//! user name and may publish only under `P/ctl/<id>/` and read only what
//! the firmware follows: nodes' `status` and `palette`. So a stolen
//! controller password can press buttons, but never send commands,
//! deploy models, overwrite a node's retained topics or take the daemon's
//! client id (the broker would disconnect the daemon for it).

use std::collections::HashMap;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Controller,
}

/// One user: the PHC string of its password hash (`$argon2id$…`) and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub hash: String,
    pub role: Role,
}

/// The broker's users and the topics each role may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    prefix: String,
    users: HashMap<String, User>,
    /// Client ids only an admin may connect with (the daemon's own).
    reserved_client_ids: Vec<String>,
}

/// A problem in a password file, with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct PasswordFileError {
    pub line: usize,
    pub message: String,
}

/// Reads a password file: `name:$argon2id$…` per line (what `easeld
/// passwd NAME` prints), `#` comments and blank lines ignored. Names are
/// controller ids (`[a-z0-9_-]{1,32}`): they become topic levels.
pub fn parse_password_file(text: &str) -> Result<Vec<(String, String)>, PasswordFileError> {
    let mut users: Vec<(String, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let fail = |message: String| PasswordFileError {
            line: i + 1,
            message,
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, hash)) = line.split_once(':') else {
            return Err(fail("expected name:hash".into()));
        };
        let (name, hash) = (name.trim(), hash.trim());
        if !easel_protocol::is_valid_node_id(name) {
            return Err(fail(format!("{name:?} is not [a-z0-9_-]{{1,32}}")));
        }
        if !hash.starts_with("$argon2") {
            return Err(fail(format!(
                "the password of {name:?} is not an argon2 hash (make one with `easeld passwd {name}`)"
            )));
        }
        if users.iter().any(|(n, _)| n == name) {
            return Err(fail(format!("{name:?} is listed twice")));
        }
        users.push((name.into(), hash.into()));
    }
    Ok(users)
}

impl Access {
    /// The daemon's own admin (`[mqtt] username`, its password hashed),
    /// the password file's users (`admins` among them are admins, the
    /// others controllers), and the client ids only admins may take.
    pub fn new(
        prefix: &str,
        admin: (String, String),
        file_users: Vec<(String, String)>,
        admins: &[String],
        reserved_client_ids: Vec<String>,
    ) -> Access {
        let mut users = HashMap::new();
        for (name, hash) in file_users {
            let role = if admins.contains(&name) {
                Role::Admin
            } else {
                Role::Controller
            };
            users.insert(name, User { hash, role });
        }
        // The daemon's login wins over a file entry of the same name.
        users.insert(
            admin.0,
            User {
                hash: admin.1,
                role: Role::Admin,
            },
        );
        Access {
            prefix: prefix.into(),
            users,
            reserved_client_ids,
        }
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    /// Whether `user` may connect with `client_id`.
    pub fn may_use_client_id(&self, user: &str, client_id: &str) -> bool {
        match self.users.get(user) {
            Some(User {
                role: Role::Admin, ..
            }) => true,
            Some(_) => !self.reserved_client_ids.iter().any(|id| id == client_id),
            None => false,
        }
    }

    fn role(&self, user: Option<&str>) -> Option<Role> {
        user.and_then(|u| self.users.get(u)).map(|u| u.role)
    }

    /// Whether `user` may publish to `topic` (a will too).
    pub fn may_publish(&self, user: Option<&str>, topic: &str) -> bool {
        match (self.role(user), user) {
            (Some(Role::Admin), _) => true,
            (Some(Role::Controller), Some(id)) => {
                let own = format!("{}/ctl/{id}/", self.prefix);
                topic.starts_with(&own) && topic.len() > own.len()
            }
            _ => false,
        }
    }

    /// Whether `user` may subscribe to `filter`: everything it could ever
    /// deliver must be readable by that user.
    pub fn may_subscribe(&self, user: Option<&str>, filter: &str) -> bool {
        match (self.role(user), user) {
            (Some(Role::Admin), _) => true,
            (Some(Role::Controller), Some(id)) => {
                let p = &self.prefix;
                [
                    format!("{p}/+/status"),
                    format!("{p}/+/palette"),
                    format!("{p}/ctl/{id}/#"),
                ]
                .iter()
                .any(|allowed| within(filter, allowed))
            }
            _ => false,
        }
    }
}

/// Whether every topic `filter` matches is also matched by `allowed`
/// (both MQTT filters: `+` one level, `#` the rest).
fn within(filter: &str, allowed: &str) -> bool {
    let mut f = filter.split('/');
    let mut a = allowed.split('/');
    loop {
        match (f.next(), a.next()) {
            (_, Some("#")) => return true,
            (None, None) => return true,
            (Some("#"), _) => return false,
            (Some(_), Some("+")) => {}
            (Some("+"), Some(_)) => return false,
            (Some(x), Some(y)) if x == y => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> Access {
        Access::new(
            "easel",
            ("artist".into(), "$argon2id$a".into()),
            vec![
                ("ctl-1".into(), "$argon2id$b".into()),
                ("ha".into(), "$argon2id$c".into()),
            ],
            &["ha".into()],
            vec!["easeld-gallery-1".into()],
        )
    }

    #[test]
    fn admins_may_do_anything() {
        let a = access();
        for user in ["artist", "ha"] {
            assert!(a.may_publish(Some(user), "easel/gallery-1/cmd/generate"));
            assert!(a.may_subscribe(Some(user), "#"));
            assert!(a.may_use_client_id(user, "easeld-gallery-1"));
        }
    }

    #[test]
    fn a_controller_publishes_only_under_its_own_id() {
        let a = access();
        let c = Some("ctl-1");
        assert!(a.may_publish(c, "easel/ctl/ctl-1/input"));
        assert!(a.may_publish(c, "easel/ctl/ctl-1/status"));
        assert!(!a.may_publish(c, "easel/ctl/ctl-2/input"));
        assert!(!a.may_publish(c, "easel/ctl/ctl-1"));
        assert!(!a.may_publish(c, "easel/ctl/ctl-10/input"));
        assert!(!a.may_publish(c, "easel/gallery-1/cmd/generate"));
        assert!(!a.may_publish(c, "easel/gallery-1/status"));
        assert!(!a.may_publish(c, "homeassistant/status"));
    }

    #[test]
    fn a_controller_reads_status_and_palette_only() {
        let a = access();
        let c = Some("ctl-1");
        for ok in [
            "easel/gallery-1/status",
            "easel/gallery-1/palette",
            "easel/+/palette",
            "easel/ctl/ctl-1/#",
        ] {
            assert!(a.may_subscribe(c, ok), "{ok}");
        }
        for refused in [
            "#",
            "easel/#",
            "easel/+/+",
            "easel/gallery-1/event",
            "easel/gallery-1/cmd/+",
            "easel/ctl/+/input",
            "easel/ctl/ctl-2/#",
        ] {
            assert!(!a.may_subscribe(c, refused), "{refused}");
        }
        assert!(!a.may_use_client_id("ctl-1", "easeld-gallery-1"));
        assert!(a.may_use_client_id("ctl-1", "ctl-1"));
    }

    #[test]
    fn strangers_and_anonymous_may_do_nothing() {
        let a = access();
        assert!(!a.may_publish(None, "easel/ctl/x/input"));
        assert!(!a.may_subscribe(None, "easel/+/status"));
        assert!(!a.may_publish(Some("nobody"), "easel/ctl/nobody/input"));
        assert!(!a.may_use_client_id("nobody", "x"));
    }

    #[test]
    fn password_files_are_checked_line_by_line() {
        let ok = "# controllers\nctl-1:$argon2id$v=19$x\n\n ctl-2 : $argon2id$y \n";
        assert_eq!(
            parse_password_file(ok).unwrap(),
            [
                ("ctl-1".to_string(), "$argon2id$v=19$x".to_string()),
                ("ctl-2".to_string(), "$argon2id$y".to_string())
            ]
        );
        let line = |text: &str| parse_password_file(text).unwrap_err().line;
        assert_eq!(line("a:$argon2id$x\nnocolon\n"), 2);
        assert_eq!(line("\nBad/Name:$argon2id$x\n"), 2);
        assert_eq!(line("ctl-1:plaintext\n"), 1);
        assert_eq!(line("a:$argon2id$x\na:$argon2id$y\n"), 2);
    }
}
