// Shared by the classic-style pages: the helpers the classic iHome jQuery
// front end had. Test material, written for classic.test.mjs; never shipped.

// The classic pages sent Django/Flask's CSRF cookie back as a header. Our app
// sets no such cookie, so this is `undefined`, as it is for a classic client.
function getCookie(name) {
  var r = document.cookie.match("\\b" + name + "=([^;]*)\\b");
  return r ? r[1] : undefined;
}

// Query-string values, as the classic pages read them.
function decodeQuery() {
  var search = decodeURI(document.location.search);
  return search.replace(/(^\?)/, "").split("&").reduce(function (result, item) {
    var values = item.split("=");
    result[values[0]] = values[1];
    return result;
  }, {});
}

function generateUUID() {
  var d = new Date().getTime();
  return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, function (c) {
    var r = (d + Math.random() * 16) % 16 | 0;
    d = Math.floor(d / 16);
    return (c == "x" ? r : (r & 0x3 | 0x8)).toString(16);
  });
}

// Every error is the server's errmsg, shown where the user looks.
function showError(msg) {
  $("#error-msg").text(msg).show();
}

function hideError() {
  $("#error-msg").hide();
}

// JSON the way the classic pages sent it: a string body, the content type
// set by hand, the CSRF header, and only a success callback: an answer that
// is not HTTP 2xx reaches nothing.
function sendJSON(type, url, data, success) {
  $.ajax({
    url: url,
    type: type,
    data: JSON.stringify(data),
    contentType: "application/json",
    dataType: "json",
    headers: { "X-CSRFToken": getCookie("csrf_token") },
    success: success
  });
}
