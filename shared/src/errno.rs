//! The API's error table (openapi.yaml, `Envelope.errno`) and the one error
//! type handlers return. Every failure a user can cause maps to an errno and an
//! HTTP status that tells the truth; only genuine faults are 5xx.

use std::fmt;

/// One row of the errno table. The wire form is a string (`"4103"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Errno {
    Ok,
    DbErr,
    NoData,
    DataExist,
    DataErr,
    SessionErr,
    LoginErr,
    ParamErr,
    UserErr,
    RoleErr,
    PwdErr,
    SmsErr,
    MobileErr,
    ReqErr,
    ThirdErr,
    IoErr,
    ServerErr,
    UnknownErr,
}

impl Errno {
    pub const fn code(self) -> &'static str {
        match self {
            Errno::Ok => "0",
            Errno::DbErr => "4001",
            Errno::NoData => "4002",
            Errno::DataExist => "4003",
            Errno::DataErr => "4004",
            Errno::SessionErr => "4101",
            Errno::LoginErr => "4102",
            Errno::ParamErr => "4103",
            Errno::UserErr => "4104",
            Errno::RoleErr => "4105",
            Errno::PwdErr => "4106",
            Errno::SmsErr => "4108",
            Errno::MobileErr => "4109",
            Errno::ReqErr => "4201",
            Errno::ThirdErr => "4301",
            Errno::IoErr => "4302",
            Errno::ServerErr => "4500",
            Errno::UnknownErr => "4501",
        }
    }

    /// The default user-facing message (the UI is Chinese, like the classic app).
    pub const fn message(self) -> &'static str {
        match self {
            Errno::Ok => "成功",
            Errno::DbErr => "数据库查询错误",
            Errno::NoData => "无数据",
            Errno::DataExist => "数据已存在",
            Errno::DataErr => "数据错误",
            Errno::SessionErr => "用户未登录",
            Errno::LoginErr => "用户登录失败",
            Errno::ParamErr => "参数错误",
            Errno::UserErr => "手机号已注册",
            Errno::RoleErr => "用户身份错误",
            Errno::PwdErr => "密码错误",
            Errno::SmsErr => "短信发送失败",
            Errno::MobileErr => "手机号格式错误",
            Errno::ReqErr => "请求过于频繁",
            Errno::ThirdErr => "第三方系统错误",
            Errno::IoErr => "文件读写错误",
            Errno::ServerErr => "内部错误",
            Errno::UnknownErr => "未知错误",
        }
    }

    /// The usual HTTP status; some rows have two (see [`ApiError::with_status`]).
    pub const fn status(self) -> u16 {
        match self {
            Errno::Ok => 200,
            Errno::DbErr => 500,
            Errno::NoData => 404,
            Errno::DataExist => 409,
            Errno::DataErr => 400,
            Errno::SessionErr => 401,
            Errno::LoginErr => 401,
            Errno::ParamErr => 400,
            Errno::UserErr => 409,
            Errno::RoleErr => 403,
            Errno::PwdErr => 401,
            Errno::SmsErr => 502,
            Errno::MobileErr => 400,
            Errno::ReqErr => 429,
            Errno::ThirdErr => 502,
            Errno::IoErr => 400,
            Errno::ServerErr => 500,
            Errno::UnknownErr => 500,
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
        Self::msg(Errno::ParamErr, message)
    }

    pub fn not_logged_in() -> Self {
        Self::new(Errno::SessionErr)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::msg(Errno::NoData, message)
    }

    pub fn role(message: impl Into<String>) -> Self {
        Self::msg(Errno::RoleErr, message)
    }

    /// A conflict (booking clash, illegal state change): 4004 with HTTP 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::msg(Errno::DataErr, message).with_status(409)
    }

    /// A storage fault (4001). The cause is kept for the log; the client
    /// only learns that the database failed.
    pub fn db(cause: impl fmt::Display) -> Self {
        Self::new(Errno::DbErr).caused_by(cause)
    }

    /// Any other internal fault (4500), its cause kept likewise.
    pub fn internal(cause: impl fmt::Display) -> Self {
        Self::new(Errno::ServerErr).caused_by(cause)
    }

    /// Records what led to this error (for the log).
    pub fn caused_by(mut self, cause: impl fmt::Display) -> Self {
        self.cause = Some(cause.to_string());
        self
    }

    /// The cause chain of [`ApiError::internal`]-style errors.
    pub fn from_error(errno: Errno, err: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = err.to_string();
        let mut source = err.source();
        while let Some(e) = source {
            chain.push_str(": ");
            chain.push_str(&e.to_string());
            source = e.source();
        }
        Self::new(errno).caused_by(chain)
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
            ..Self::msg(Errno::ReqErr, message)
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
        assert_eq!(Errno::ParamErr.code(), "4103");
        assert_eq!(Errno::ReqErr.code(), "4201");
        assert_eq!(Errno::IoErr.code(), "4302");
        assert_eq!(ApiError::conflict("x").status, 409);
        assert_eq!(ApiError::new(Errno::DataErr).status, 400);
    }
}
