"""Masking credentials before anything is recorded, printed or pushed.

Two kinds of rule, applied to command lines, run parameters, run errors and snapshot
messages:

- **by name**: a value whose name looks like a credential is masked whatever it looks
  like: ``--password X``, ``--token=X``, ``AWS_SECRET_ACCESS_KEY=X`` (an environment
  assignment, as in ``env NAME=VALUE cmd``), ``-H 'Authorization: Bearer X'``, a
  parameter ``db_pwd`` or ``credentials_json``;
- **by value**: passwords in URLs (``postgres://u:***@h``), bearer tokens, and what
  detect-secrets' AWS key, JWT, private key, basic-auth, keyword and high-entropy
  (base64, limit 4.5) detectors find.

A masked value becomes :data:`REDACTED`, so the record still shows which option or
parameter was given. detect-secrets costs 0.1 to 0.2 s to import (it pulls in
``requests``), so it is imported only for a string that holds a key-shaped pattern or
a long high-entropy token; a plain command line, ``--help``, hooks and config loading
never import it.

    >>> redact_command(["env", "HF_TOKEN=hf_abc", "curl", "-u", "https://u:pw@h/x"])
    ['env', 'HF_TOKEN=***', 'curl', '-u', 'https://u:***@h/x']
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

REDACTED = "***"

# Name rules. A name is split into words (separators and camelCase); STRONG terms match
# anywhere in the name with separators removed, WEAK ones only as its last word, so
# ``max_tokens`` and ``token_count`` stay visible while ``HF_TOKEN`` and ``db_pwd`` do not.
_STRONG = ("secret", "password", "passwd", "passphrase", "credential", "apikey", "privatekey",
           "accesskey", "secretkey", "sessiontoken", "authtoken", "accesstoken", "refreshtoken")
_WEAK_LAST = frozenset({"token", "pwd", "pw", "pass", "auth", "authorization", "cookie"})
_EXACT = frozenset({"key"})
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """Whether a value called ``name`` (an option, parameter, variable or header) is a credential.

    >>> [is_secret_name(n) for n in ("AWS_SECRET_ACCESS_KEY", "pwd", "max_tokens", "region")]
    [True, True, False, False]
    """
    words = [w.lower() for w in _WORD_SPLIT.split(name) if w]
    if not words:
        return False
    joined = "".join(words)
    return (joined in _EXACT or words[-1] in _WEAK_LAST
            or any(term in joined for term in _STRONG))


# -- text rules (cheap regular expressions) ----------------------------------------

_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?"
                  r"(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)", re.DOTALL)
_AUTH_HEADER = re.compile(r"(?im)\b((?:proxy-)?authorization)(\s*:\s*)[^\r\n'\"]+")
# a bearer or basic credential in running text needs a digit, so "basic cleanup" stays
_AUTH_SCHEME = re.compile(r"\b(Bearer|Basic)(\s+)(?=[A-Za-z0-9._~+/-]*\d)[A-Za-z0-9._~+/-]{8,}=*",
                          re.IGNORECASE)
# "Name: value" at the start of a line: an HTTP header given to curl -H, a YAML pair
_HEADER = re.compile(r"(?m)^(\s*[A-Za-z][\w-]*)(\s*:[ \t]*)(\S[^\r\n]*)$")
# scheme://user:password@ ; a port ("host:8080/") is not a password
_URL_PASSWORD = re.compile(
    r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@'\"]*):(?!\d+(?:[/?#\s'\"]|$))([^\s@'\"]+)@")
# NAME=VALUE or "name": "value" anywhere (env assignments, query strings, JSON, hydra overrides)
_PAIR = re.compile(
    r"""(?P<q>["']?)(?P<name>[A-Za-z_][\w.-]*)(?P=q)(?P<sep>\s*=\s*|\s*:\s*(?=["']))"""
    r"""(?P<val>"[^"]*"|'[^']*'|[^\s&;,'"}]+)""")
# --password VALUE inside one string (a shell script given to sh -c)
_OPTION_VALUE = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)(\s+)(?!-)(\S+)")


def _mask_quoted(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[0] + REDACTED + value[0]
    return REDACTED


def _by_name(text: str) -> str:
    def pair(m: re.Match[str]) -> str:
        if not is_secret_name(m["name"]) or m["val"] in ("", REDACTED):
            return m[0]
        return f"{m['q']}{m['name']}{m['q']}{m['sep']}{_mask_quoted(m['val'])}"

    def option(m: re.Match[str]) -> str:
        if is_secret_name(m[1].lstrip("-")) and m[3] != REDACTED:
            return f"{m[1]}{m[2]}{REDACTED}"
        return m[0]

    def header(m: re.Match[str]) -> str:
        return f"{m[1]}{m[2]}{REDACTED}" if is_secret_name(m[1].strip()) else m[0]

    text = _PAIR.sub(pair, text)
    if any(c.isspace() for c in text.strip()):
        text = _OPTION_VALUE.sub(option, text)
    return _HEADER.sub(header, text)


def _by_pattern(text: str) -> str:
    text = _PEM.sub(REDACTED, text)
    text = _AUTH_HEADER.sub(lambda m: f"{m[1]}{m[2]}{REDACTED}", text)
    text = _AUTH_SCHEME.sub(lambda m: f"{m[1]}{m[2]}{REDACTED}", text)
    return _URL_PASSWORD.sub(lambda m: f"{m[1]}:{REDACTED}@", text)


# -- value rules (detect-secrets) --------------------------------------------------

#: Shannon entropy (bits per character, base64 alphabet) above which a long token is
#: taken for a key: detect-secrets' default. Hex digests (at most 4.0) never reach it.
ENTROPY_LIMIT = 4.5
_MIN_TOKEN = 20
_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{%d,}" % _MIN_TOKEN)
# only text that could hold a finding pays for importing detect-secrets
_PRECISE_SUSPECT = re.compile(r"eyJ|PRIVATE KEY|://[^\s]*@|(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA)[0-9A-Z]{16}")


def _entropy(token: str) -> float:
    """Shannon entropy in bits per character (detect-secrets' formula, any alphabet)."""
    n = len(token)
    return -sum(c / n * math.log2(c / n) for c in Counter(token).values())


def _suspect(text: str, entropy: bool) -> bool:
    """Whether detect-secrets could find anything: a command without a long random token
    or a key-shaped string never pays for importing it."""
    if _PRECISE_SUSPECT.search(text):
        return True
    return entropy and any(_entropy(m[0]) > ENTROPY_LIMIT for m in _TOKEN.finditer(text))
_EXPAND = re.compile(r"[A-Za-z0-9+/=_.~-]*")


@functools.lru_cache(maxsize=1)
def _detectors() -> tuple[list[Any], Any]:
    """detect-secrets' detectors, imported on first use (~0.1 s)."""
    from detect_secrets.plugins.aws import AWSKeyDetector
    from detect_secrets.plugins.basic_auth import BasicAuthDetector
    from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString
    from detect_secrets.plugins.jwt import JwtTokenDetector
    from detect_secrets.plugins.keyword import KeywordDetector
    from detect_secrets.plugins.private_key import PrivateKeyDetector

    regex = [AWSKeyDetector(), BasicAuthDetector(), JwtTokenDetector(), PrivateKeyDetector(),
             KeywordDetector()]
    return regex, Base64HighEntropyString(limit=ENTROPY_LIMIT)


def secret_values(text: str, *, entropy: bool = True) -> list[str]:
    """The substrings of ``text`` that detect-secrets takes for credentials (with
    ``entropy=False`` only the precise detectors: no guess from randomness)."""
    if not _suspect(text, entropy):
        return []
    regex, high_entropy = _detectors()
    found: list[str] = []
    for plugin in regex:
        try:
            found.extend(str(v) for v in plugin.analyze_string(text) if v)
        except Exception:  # noqa: BLE001 - a detector bug must not lose the record; rules above still ran
            continue
    for m in _TOKEN.finditer(text if entropy else ""):
        if high_entropy.calculate_shannon_entropy(m[0]) > ENTROPY_LIMIT:
            found.append(m[0])
    return found


def _by_value(text: str) -> str:
    for value in sorted(set(secret_values(text)), key=len, reverse=True):
        if value == REDACTED or len(value) < 4:
            continue
        start = text.find(value)
        while start != -1:
            # widen to the whole token: detect-secrets' JWT match stops before the signature
            left = start
            while left > 0 and _EXPAND.fullmatch(text[left - 1]):
                left -= 1
            right = start + len(value)
            right += len(_EXPAND.match(text, right)[0])  # type: ignore[index]
            text = text[:left] + REDACTED + text[right:]
            start = text.find(value, left + len(REDACTED))
    return text


def redact_text(text: str) -> str:
    """Free text (an argument, a message, an error) with every credential found masked.

    >>> redact_text("psql postgres://ann:pw@db/x")
    'psql postgres://ann:***@db/x'
    """
    if not text:
        return text
    return _by_value(_by_name(_by_pattern(text)))


def redact_command(argv: Sequence[str]) -> list[str]:
    """The command as recorded: credential-like option values, secret environment
    assignments, authorization headers, URL passwords and detected keys masked.

    >>> redact_command(["train.py", "--password", "hunter2", "--max-tokens", "9"])
    ['train.py', '--password', '***', '--max-tokens', '9']
    """
    out: list[str] = []
    hide_next = False
    for arg in argv:
        arg = str(arg)
        is_option = bool(_OPTION.match(arg))
        if hide_next and not is_option:
            out.append(REDACTED)
            hide_next = False
            continue
        hide_next = False
        if is_option:
            name, eq, _ = arg.partition("=")
            if is_secret_name(name.lstrip("-")):
                if eq:
                    out.append(f"{name}={REDACTED}")
                else:
                    out.append(arg)
                    hide_next = True
                continue
        out.append(redact_text(arg))
    return out


_OPTION = re.compile(r"--?[A-Za-z][\w.-]*(?:=|$)", re.DOTALL)


def redact_value(value: Any, name: str | None = None) -> Any:
    """A parameter value as recorded: masked whole under a secret-looking name, else with
    credentials masked inside its strings (lists and dicts walked; numbers kept)."""
    if name is not None and is_secret_name(name) and value is not None and not isinstance(value, bool):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    if isinstance(value, dict):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    return value


def redact_params(params: dict[str, Any]) -> dict[str, Any]:
    """``{name: value}`` with :func:`redact_value` applied to every value."""
    return {name: redact_value(value, name) for name, value in params.items()}


def redact_cheaply(text: str) -> str:
    """:func:`redact_text` without detect-secrets (URL passwords, auth headers, private
    keys, secret-named pairs): for output paths that must stay fast, e.g. ``remote list``."""
    return _by_name(_by_pattern(text)) if text else text


def looks_secret(text: str) -> bool:
    """Whether ``text`` holds a credential by pattern or by a precise detector (AWS key,
    JWT, private key, URL password); for names, which cannot be masked and keep their
    meaning. High entropy alone is not enough: a refused metric name breaks a script."""
    return _by_pattern(text) != text or bool(secret_values(text, entropy=False))


__all__ = ["REDACTED", "ENTROPY_LIMIT", "is_secret_name", "looks_secret", "redact_command",
           "redact_cheaply", "redact_params", "redact_text", "redact_value", "secret_values"]
