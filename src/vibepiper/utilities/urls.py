"""Credentials out of printed URLs: `redact_url` for one URL, `redact_urls` for a message.

A URL may carry a password (`http://user:password@host/api`), a bare token in place of
the user of a web URL (`https://token@host`; a database URL's lone user, such as
`postgresql://postgres@host/db`, is a user name and stays), or a secret in its query
string (`?token=...`, `?api_key=...`). Whatever prints a URL, or puts one in an
exception or a log line, passes it through here first. Only the standard library is
used, so every layer (server included) may import this module.
"""

from __future__ import annotations

import re

MASK = "***"

# query parameters whose values are secrets (matched on the name, case-insensitively)
_SECRET_PARAM = re.compile(
    r"(?:token|key|secret|password|passwd|pwd|sig|signature|credential|auth)", re.IGNORECASE
)
# scheme://[userinfo@]rest ; userinfo ends at the last '@' before the path
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<authority>[^/?#]*)(?P<rest>.*)$")
# a URL inside free text: a scheme, '://', then up to whitespace or a quote/bracket
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")


def redact_url(url: str) -> str:
    """`url` with its password (or lone token) and secret query values replaced by `***`.

    `http://user:pw@host/api?token=t&limit=5` -> `http://user:***@host/api?token=***&limit=5`.
    Anything that is not a `scheme://` URL is returned unchanged.
    """
    match = _URL.match(url)
    if match is None:
        return url
    authority = match["authority"]
    userinfo, at, hostport = authority.rpartition("@")
    if at:
        user, colon, _password = userinfo.partition(":")
        if colon:
            authority = f"{user}:{MASK}@{hostport}"
        elif match["scheme"].lower().startswith(("http:", "https:")):
            authority = f"{MASK}@{hostport}"  # a lone userinfo on a web URL is a token
    return f"{match['scheme']}{authority}{_redact_query(match['rest'])}"


def redact_urls(text: str) -> str:
    """`text` with every URL in it passed through `redact_url`."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda found: _redact_trailing(found.group()), text)


def _redact_trailing(url: str) -> str:
    # punctuation that ends a sentence is not part of the URL: "see http://h/x."
    stripped = url.rstrip(".,;:!?)]}")
    return redact_url(stripped) + url[len(stripped) :]


def _redact_query(rest: str) -> str:
    path, question, query = rest.partition("?")
    if not question:
        return rest
    query, hash_, fragment = query.partition("#")
    pairs = []
    for pair in query.split("&"):
        name, equals, value = pair.partition("=")
        if equals and value and _SECRET_PARAM.search(name):
            pair = f"{name}={MASK}"
        pairs.append(pair)
    return f"{path}?{'&'.join(pairs)}{hash_}{fragment}"
