//! The API's error table (openapi.yaml, `Envelope.errno`) and the one error
//! type handlers return. Every failure a user can cause maps to an errno and an
//! HTTP status that tells the truth; only genuine faults are 5xx.

use std::fmt;

/// One row of the errno table. The wire form is a string (`"4103"`).
///
/// Variants are named by what they mean; the wire numbers are the classic
/// iHome's, so its clients keep working. The classic Go code's constant
/// names (`RECODE_DATAERR`, …) are given for whoever ports from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Errno {
    /// 0, success (`RECODE_OK`).
    Ok,
    /// 4001: the database failed (500, or 503 in an outage); also a taken
    /// user name (409), as the classic app answered it (`RECODE_DBERR`).
    Database,
    /// 4002: no such thing, or one the caller may not know exists (`RECODE_NODATA`).
    NotFound,
    /// 4003: already exists (`RECODE_DATAEXIST`).
    AlreadyExists,
    /// 4004: a conflict: nights taken, a state changed meanwhile, a cap
    /// reached (`RECODE_DATAERR`).
    Conflict,
    /// 4101: not logged in (`RECODE_SESSIONERR`).
    NotLoggedIn,
    /// 4102: wrong mobile or password, or locked out (`RECODE_LOGINERR`).
    LoginFailed,
    /// 4103: a malformed or out-of-range parameter (`RECODE_PARAMERR`).
    InvalidParam,
    /// 4104: the mobile is registered already (`RECODE_USERERR`).
    MobileTaken,
    /// 4105: logged in, but not the one allowed (`RECODE_ROLEERR`).
    Forbidden,
    /// 4106: wrong password or code (`RECODE_PWDERR`).
    WrongPassword,
    /// 4108: the SMS could not be sent (`RECODE_SMSERR`).
    SmsFailed,
    /// 4109: not a mobile number (`RECODE_MOBILEERR`).
    InvalidMobile,
    /// 4201: too many requests; `Retry-After` says when (`RECODE_REQERR`).
    RateLimited,
    /// 4301: an upstream service (image store, SMS gateway) failed (`RECODE_THIRDERR`).
    UpstreamDown,
    /// 4302: an upload that is not an acceptable image (`RECODE_IOERR`).
    InvalidImage,
    /// 4500: an internal fault or bad configuration (`RECODE_SERVERERR`).
    Internal,
    /// 4501: unknown (`RECODE_UNKNOWERR`).
    Unknown,
}

impl Errno {
    pub const fn code(self) -> &'static str {
        match self {
            Errno::Ok => "0",
            Errno::Database => "4001",
            Errno::NotFound => "4002",
            Errno::AlreadyExists => "4003",
            Errno::Conflict => "4004",
            Errno::NotLoggedIn => "4101",
            Errno::LoginFailed => "4102",
            Errno::InvalidParam => "4103",
            Errno::MobileTaken => "4104",
            Errno::Forbidden => "4105",
            Errno::WrongPassword => "4106",
            Errno::SmsFailed => "4108",
            Errno::InvalidMobile => "4109",
            Errno::RateLimited => "4201",
            Errno::UpstreamDown => "4301",
            Errno::InvalidImage => "4302",
            Errno::Internal => "4500",
            Errno::Unknown => "4501",
        }
    }

    /// The default user-facing message (the UI is Chinese, like the classic app).
    pub const fn message(self) -> &'static str {
        match self {
            Errno::Ok => "成功",
            Errno::Database => "数据库查询错误",
            Errno::NotFound => "无数据",
            Errno::AlreadyExists => "数据已存在",
            Errno::Conflict => "数据错误",
            Errno::NotLoggedIn => "用户未登录",
            Errno::LoginFailed => "用户登录失败",
            Errno::InvalidParam => "参数错误",
            Errno::MobileTaken => "手机号已注册",
            Errno::Forbidden => "用户身份错误",
            Errno::WrongPassword => "密码错误",
            Errno::SmsFailed => "短信发送失败",
            Errno::InvalidMobile => "手机号格式错误",
            Errno::RateLimited => "请求过于频繁",
            Errno::UpstreamDown => "第三方系统错误",
            Errno::InvalidImage => "文件读写错误",
            Errno::Internal => "内部错误",
            Errno::Unknown => "未知错误",
        }
    }

    /// The usual HTTP status; some rows have two (see [`ApiError::with_status`]).
    pub const fn status(self) -> u16 {
        match self {
            Errno::Ok => 200,
            Errno::Database => 500,
            Errno::NotFound => 404,
            Errno::AlreadyExists => 409,
            Errno::Conflict => 400,
            Errno::NotLoggedIn => 401,
            Errno::LoginFailed => 401,
            Errno::InvalidParam => 400,
            Errno::MobileTaken => 409,
            Errno::Forbidden => 403,
            Errno::WrongPassword => 401,
            Errno::SmsFailed => 502,
            Errno::InvalidMobile => 400,
            Errno::RateLimited => 429,
            Errno::UpstreamDown => 502,
            Errno::InvalidImage => 400,
            Errno::Internal => 500,
            Errno::Unknown => 500,
        }
    }
}

/// The error every handler returns: an errno, the HTTP status to send and a
/// message for the user. A fault keeps its cause (the chain of errors that
/// led to it), which [`crate::http::serve`] logs once; it never reaches the
/// client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub errno: Errno,
    pub status: u16,
    pub message: String,
    /// Seconds until a refused request may succeed (the `Retry-After` header
    /// of a 429); `None` for every other error.
    pub retry_after: Option<i64>,
    /// The methods a route answers (the `Allow` header of a 405).
    pub allow: Option<String>,
    /// What went wrong inside, for the log: the error and its sources.
    cause: Option<String>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(errno: Errno) -> Self {
        ApiError {
            errno,
            status: errno.status(),
            message: errno.message().to_string(),
            retry_after: None,
            allow: None,
            cause: None,
        }
    }

    /// Same errno, a more precise message ("价格必须在 1 到 1000000 元之间").
    pub fn msg(errno: Errno, message: impl Into<String>) -> Self {
        ApiError {
            errno,
            status: errno.status(),
            message: message.into(),
            retry_after: None,
            allow: None,
            cause: None,
        }
    }

    /// For the rows with two statuses (4001 500/409, 4004 400/409, 4302 400/413).
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    pub fn param(message: impl Into<String>) -> Self {
        Self::msg(Errno::InvalidParam, message)
    }

    pub fn not_logged_in() -> Self {
        Self::new(Errno::NotLoggedIn)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::msg(Errno::NotFound, message)
    }

    pub fn role(message: impl Into<String>) -> Self {
        Self::msg(Errno::Forbidden, message)
    }

    /// A conflict (booking clash, illegal state change): 4004 with HTTP 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::msg(Errno::Conflict, message).with_status(409)
    }

    /// A storage fault (4001). The cause is kept for the log; the client
    /// only learns that the database failed.
    pub fn db(cause: impl fmt::Display) -> Self {
        Self::new(Errno::Database).caused_by(cause)
    }

    /// Any other internal fault (4500), its cause kept likewise.
    pub fn internal(cause: impl fmt::Display) -> Self {
        Self::new(Errno::Internal).caused_by(cause)
    }

    /// Records what led to this error (for the log).
    pub fn caused_by(mut self, cause: impl fmt::Display) -> Self {
        self.cause = Some(cause.to_string());
        self
    }

    /// What went wrong inside, if this is a fault.
    pub fn cause(&self) -> Option<&str> {
        self.cause.as_deref()
    }

    /// Too many requests (4201, HTTP 429): try again in `retry_after`
    /// seconds (at least 1, sent as `Retry-After`).
    pub fn too_many(message: impl Into<String>, retry_after: i64) -> Self {
        ApiError {
            retry_after: Some(retry_after.max(1)),
            ..Self::msg(Errno::RateLimited, message)
        }
    }

    /// 405 for a route answering only `allowed` (HEAD comes with GET).
    pub fn method_not_allowed(allowed: &[spin_sdk::http::Method]) -> Self {
        use spin_sdk::http::Method;
        let mut names: Vec<&str> = Vec::new();
        for m in allowed {
            let name = match m {
                Method::Get => "GET",
                Method::Post => "POST",
                Method::Put => "PUT",
                Method::Delete => "DELETE",
                Method::Patch => "PATCH",
                Method::Head => "HEAD",
                Method::Options => "OPTIONS",
                _ => continue,
            };
            names.push(name);
            if name == "GET" && !allowed.contains(&Method::Head) {
                names.push("HEAD");
            }
        }
        ApiError {
            allow: Some(names.join(", ")),
            ..Self::param("不支持的请求方法").with_status(405)
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.errno.code(),
            self.status,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_strings() {
        assert_eq!(Errno::InvalidParam.code(), "4103");
        assert_eq!(Errno::RateLimited.code(), "4201");
        assert_eq!(Errno::InvalidImage.code(), "4302");
        assert_eq!(ApiError::conflict("x").status, 409);
        assert_eq!(ApiError::new(Errno::Conflict).status, 400);
    }
}
