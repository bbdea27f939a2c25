//! The Lua scripts that make each multi-key change one atomic unit (SPEC section 2). They
//! do not decide anything: the caller reads, lets [`crate::store::rules`] decide, and the
//! script applies the decision only if what it was made from is still there, byte for byte.
//! Every key a script touches is in one user's hash slot, so the same scripts run on Redis
//! Cluster. `redis::Script` sends `EVALSHA` and loads the script when the server lacks it.

use std::sync::LazyLock;

use redis::Script;

pub static ROTATE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/rotate.lua")));
pub static TOUCH: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/touch.lua")));
pub static CREATE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/create.lua")));
pub static PUT_NEW_CODE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/put_new_code.lua")));
pub static REVOKE_ALL: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/revoke_all.lua")));
