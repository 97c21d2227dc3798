//! Password hashing: Argon2id with OWASP's minimum parameters, salted per
//! hash; verification in constant time; hashes made with other parameters
//! are upgraded at the next successful login.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore;

use crate::domain::Password;
use crate::errno::{ApiError, ApiResult};

/// Argon2id memory cost in KiB: 19 MiB, the OWASP minimum for Argon2id
/// (with [`ARGON2_T_COST`] and [`ARGON2_P_COST`] below).
pub const ARGON2_M_COST_KIB: u32 = 19_456;
/// Argon2id passes over memory (OWASP minimum configuration: 2).
pub const ARGON2_T_COST: u32 = 2;
/// Argon2id lanes; a component instance is single-threaded anyway.
pub const ARGON2_P_COST: u32 = 1;
/// Salt bytes per hash (the PHC recommendation: 16).
const SALT_BYTES: usize = 16;

/// A well-formed PHC string with the current parameters whose output matches
/// no known password. Login verifies against it when the mobile is unknown, so that an unknown
/// mobile costs the same Argon2 work as a wrong password and response time
/// doesn't tell whether an account exists. A test keeps its parameters equal
/// to the constants above.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$mUnbGzWjDgGRq/IBwkgbWDGgKrSH2ZaoH36ORD94wUU";

fn argon2() -> Argon2<'static> {
    let params = Params::new(ARGON2_M_COST_KIB, ARGON2_T_COST, ARGON2_P_COST, None)
        .expect("the Argon2 constants are valid parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`).
pub fn hash_password(password: &Password) -> ApiResult<String> {
    let mut salt = [0u8; SALT_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(ApiError::internal)?;
    argon2()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(ApiError::internal)
}

/// Whether `password` matches the stored PHC string. The final comparison is
/// constant time (password-hash compares outputs with `subtle`); the
/// parameters come from the stored string, so old hashes keep verifying after
/// the constants change. An unparsable hash never matches.
pub fn verify_password(password: &Password, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok(),
        Err(e) => {
            crate::log_line!("unparsable password hash in the database: {e}");
            false
        }
    }
}

/// Spends one verification's worth of work without any account.
pub fn burn_verification(password: &Password) {
    let _ = verify_password(password, DUMMY_HASH);
}

/// Whether a stored hash was made with other parameters than today's (then
/// it is replaced at the next successful login, while the password is known).
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    let current = (ARGON2_M_COST_KIB, ARGON2_T_COST, ARGON2_P_COST);
    parsed.algorithm.as_str() != "argon2id"
        || parsed.version != Some(Version::V0x13.into())
        || Params::try_from(&parsed)
            .map_or(true, |p| (p.m_cost(), p.t_cost(), p.p_cost()) != current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_salted_argon2id_and_verify() {
        let pw = Password::parse("correct horse").unwrap();
        let a = hash_password(&pw).unwrap();
        let b = hash_password(&pw).unwrap();
        assert_ne!(a, b, "salted");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert!(!a.contains("correct horse"));
        assert!(verify_password(&pw, &a));
        assert!(!verify_password(
            &Password::parse("correct horsE").unwrap(),
            &a
        ));
        assert!(!verify_password(&pw, "not a hash"));
        assert!(!needs_rehash(&a));
    }

    #[test]
    fn dummy_hash_costs_what_a_real_one_does() {
        assert!(
            !needs_rehash(DUMMY_HASH),
            "update DUMMY_HASH with the parameters"
        );
        let pw = Password::parse("anything-at-all").unwrap();
        assert!(!verify_password(&pw, DUMMY_HASH));
    }

    #[test]
    fn weaker_or_other_hashes_are_upgraded() {
        assert!(needs_rehash(
            "$argon2id$v=19$m=4096,t=3,p=1$c2FsdHNhbHRzYWx0c2FsdA$mUnbGzWjDgGRq/IBwkgbWDGgKrSH2ZaoH36ORD94wUU"
        ));
        assert!(needs_rehash(
            "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$mUnbGzWjDgGRq/IBwkgbWDGgKrSH2ZaoH36ORD94wUU"
        ));
        assert!(needs_rehash("plaintext"));
    }
}
