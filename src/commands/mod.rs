//! What the command line (`lbounds aggregate | attack | simulate`) and the Python bindings
//! (`lbounds.aggregate`, `attack`, `simulate`) share: a defence built from names, an attack
//! followed by its defence, and the plan, bounds and records of a simulation. Both front ends
//! call these functions, so they cannot drift apart; an error names a parameter as the
//! caller spells it ([`Spelling`]).

pub mod audit;
pub mod defence;
pub mod simulate;

/// How the caller spells a parameter in messages: `--f 3` on the command line, `f=3` in Python.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spelling {
    /// Flags of the `lbounds` command (`--f`, `--replicates`).
    Cli,
    /// Keyword arguments of the Python package (`f`, `replicates`).
    Python,
}

impl Spelling {
    /// The parameter `key` as the caller writes it (`--f` or `f`).
    pub fn name(self, key: &str) -> String {
        match self {
            Spelling::Cli => format!("--{key}"),
            Spelling::Python => key.to_string(),
        }
    }

    /// The parameter `key` set to `value` as the caller writes it (`--f 3` or `f=3`).
    pub fn assign(self, key: &str, value: &str) -> String {
        match self {
            Spelling::Cli => format!("--{key} {value}"),
            Spelling::Python => format!("{key}={value}"),
        }
    }
}
