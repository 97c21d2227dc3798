"""Schemathesis hooks for openapi.yaml: the rules a JSON Schema cannot state.

openapi.yaml encodes every rule of a single value (ranges, patterns,
lengths, enums). A few rules relate a value to today, to another field or to
the app's state, which no schema can say; for those, a *positive* case (one
the schema calls valid) is completed here the way a real client would fill
in its form, right before it is sent. Schemathesis then validates the case
again, so an edit can never pass off an invalid request as a valid one.
Negative cases are never touched: they must be refused as generated.

# Layout
- `image/png` media type: real PNG images for the upload fields (the schema
  says the part is an image; random bytes are not one).
- `before_call`: JSON integers written as integer tokens, and per
  operation the cross-field and relative rules:
  stays from today on and within the booking horizon, `end > start`,
  `max_days` 0 or at least `min_days`, `min_price <= max_price`, the id
  card's check character and birth date, a photo order naming exactly the
  house's photos, money as the two-decimal numbers the schema means.
- `secret_refusals`: a check for the two operations whose schema-valid
  requests are refused for a secret the generator cannot know (a captcha
  answer, an SMS code): such a refusal must be exactly errno 4004.
"""

from __future__ import annotations

import datetime
import json
import struct
import zlib

import requests
import schemathesis
from hypothesis import strategies as st

# What Rust's `str::trim` removes (Unicode White_Space), as the app trims.
WHITESPACE = " \t\n\x0b\x0c\r\x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(
    chr(c) for c in range(0x2000, 0x200B)
)

# Stays are moved to start at most this many days after tomorrow: well inside
# the app's 365-day booking horizon whatever its time zone (`utc_offset`).
STAY_STARTS_WITHIN_DAYS = 300
# Generated stays last at most this many nights: below the 90 a house with
# `max_days` 0 allows, so only the house's own limits can refuse them.
LONGEST_GENERATED_STAY = 30


# --- real images --------------------------------------------------------------


def _png(width: int, height: int, shade: int) -> bytes:
    """A valid grey PNG of `width` x `height` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes([shade]) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


schemathesis.openapi.media_type(
    "image/png",
    st.builds(_png, st.integers(1, 32), st.integers(1, 32), st.integers(0, 255)),
)


# --- positive cases completed -------------------------------------------------


def _is_positive(case) -> bool:
    return case.meta is not None and case.meta.generation.mode.is_positive


def _date(raw) -> datetime.date | None:
    if not isinstance(raw, str):
        return None
    try:
        return datetime.date.fromisoformat(raw.strip(WHITESPACE))
    except ValueError:
        return None


def _number(raw) -> float | None:
    """A JSON number or decimal string as the app reads it, else None."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        return raw
    if isinstance(raw, str) and raw.strip(WHITESPACE):
        try:
            return float(raw.strip(WHITESPACE))
        except ValueError:
            return None
    return None


def _stay(container: dict, start_key: str, end_key: str) -> None:
    """Moves the stay to start from tomorrow (UTC) on, keeping its variety."""
    start, end = _date(container.get(start_key)), _date(container.get(end_key))
    if start is None or end is None:
        return
    tomorrow = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=1)
    first = tomorrow + datetime.timedelta(days=start.toordinal() % STAY_STARTS_WITHIN_DAYS)
    nights = 1 + abs(end.toordinal() - start.toordinal()) % LONGEST_GENERATED_STAY
    container[start_key] = first.isoformat()
    container[end_key] = (first + datetime.timedelta(days=nights)).isoformat()


def _search(query: dict) -> None:
    """`ed` after `sd` when both are given; `min_price <= max_price`."""
    sd, ed = _date(query.get("sd")), _date(query.get("ed"))
    if sd is not None and ed is not None and ed <= sd:
        sd, ed = ed, sd
        if sd == ed:
            ed = sd + datetime.timedelta(days=1)
        query["sd"], query["ed"] = sd.isoformat(), ed.isoformat()
    low, high = _number(query.get("min_price")), _number(query.get("max_price"))
    if low is not None and high is not None and low > high:
        query["min_price"], query["max_price"] = query["max_price"], query["min_price"]


def _house_form(body: dict) -> None:
    """`max_days` 0 or at least `min_days`; money with at most two decimals."""
    low, high = _number(body.get("min_days")), _number(body.get("max_days"))
    if low is not None and high is not None and high != 0 and high < low:
        body["min_days"], body["max_days"] = body["max_days"], body["min_days"]
    for field in ("price", "deposit"):
        # `multipleOf: 0.01` drawn as k * 0.01 in binary floating point can
        # be 0.5700000000000001; the schema means the decimal 0.57.
        if isinstance(body.get(field), float):
            body[field] = round(body[field], 2)


ID_CARD_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CARD_CHECK = "10X98765432"


def _id_card(body: dict) -> None:
    """A real birth date (1900 to last year) and the right check character."""
    raw = body.get("id_card")
    text = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
    if not isinstance(text, str):
        return
    core = text.strip(WHITESPACE)
    if len(core) != 18 or not core[:17].isdigit():
        return
    lead = text[: len(text) - len(text.lstrip(WHITESPACE))]
    trail = text[len(text.rstrip(WHITESPACE)) :]
    year, month, day = int(core[6:10]), int(core[10:12]), int(core[12:14])
    last_year = datetime.date.today().year - 1
    if year > last_year:
        year = 1900 + year % 100
    day = min(day, 28) if month == 2 else min(day, 30) if month in (4, 6, 9, 11) else day
    first17 = f"{core[:6]}{year:04}{month:02}{day:02}{core[14:17]}"
    check = ID_CARD_CHECK[sum(int(d) * w for d, w in zip(first17, ID_CARD_WEIGHTS)) % 11]
    card = first17 + check
    body["id_card"] = int(card) if isinstance(raw, int) and check != "X" else lead + card + trail


def _photo_order(case) -> None:
    """Exactly the house's photo ids (reversed), read as its owner would."""
    url = f"{case.operation.schema.get_base_url()}/houses/{case.path_parameters['id']}"
    resp = requests.get(url, cookies=dict(case.cookies or {}), timeout=20)
    if resp.status_code != 200:
        return
    data = resp.json()["data"]
    if data["user_id"] != data["house"]["user_id"]:
        return
    case.body["image_ids"] = [image["image_id"] for image in reversed(data["house"]["images"])]


def _integer_tokens(value):
    """Whole floats as integers: JSON Schema's `integer` includes `2.0`, but
    the app reads integers from integer tokens only (`rating: 5.0` is 4103,
    openapi.yaml), as every client writes them."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _integer_tokens(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_integer_tokens(item) for item in value]
    return value


@schemathesis.hook
def before_call(context, case, kwargs):
    if not _is_positive(case):
        return
    label = case.operation.label
    if isinstance(case.body, (dict, list)) and case.media_type == "application/json":
        case.body = _integer_tokens(case.body)
    body = case.body if isinstance(case.body, dict) else None
    if label == "GET /houses" and isinstance(case.query, dict):
        _search(case.query)
    elif body is None:
        return
    elif label == "POST /orders":
        _stay(body, "start_date", "end_date")
    elif label in ("POST /houses/{id}/blocked", "DELETE /houses/{id}/blocked"):
        _stay(body, "start_date", "end_date")
    elif label in ("POST /houses", "PUT /houses/{id}"):
        _house_form(body)
    elif label == "POST /user/auth":
        _id_card(body)
    elif label == "PUT /houses/{id}/images/order":
        _photo_order(case)


# --- refusals for secrets -----------------------------------------------------

# Operations whose well-formed requests carry a secret the generator cannot
# know; tests/schemathesis/schemathesis.toml lets their positive cases be
# refused with 400, and this check narrows that to the secret's errno.
SECRET_OPERATIONS = {
    "GET /smscode/{mobile}": "the captcha answer",
    "POST /users": "the SMS code",
}
WRONG_SECRET_ERRNO = "4004"


@schemathesis.check
def secret_refusals(ctx, response, case):
    secret = SECRET_OPERATIONS.get(case.operation.label)
    if secret is None or not _is_positive(case) or response.status_code != 400:
        return None
    errno = json.loads(response.content).get("errno")
    if errno != WRONG_SECRET_ERRNO:
        raise AssertionError(
            f"a well-formed request was refused with errno {errno}; only a wrong {secret} "
            f"({WRONG_SECRET_ERRNO}) may refuse it"
        )
    return None
