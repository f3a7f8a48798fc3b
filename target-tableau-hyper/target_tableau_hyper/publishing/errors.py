"""Publishing errors, and the translation of Tableau REST failures into plain words.

Messages name what is wrong and what to do, keep the Tableau error code, and never carry a secret.
tableauserverclient (~0.1 s to import) is imported by the functions that inspect its exceptions,
so the target's start-up, which imports this module, does not pay for it when not publishing.
"""

from __future__ import annotations

import typing as t

import requests


class PublishError(Exception):
    """A publish step failed; `code` is the Tableau error code when Tableau gave one."""

    default_kind = "error"

    def __init__(self, message: str, code: str | None = None, kind: str | None = None):
        self.code = code
        self.kind = kind or self.default_kind
        super().__init__(message if not code else f"{message} (Tableau error {code})")


class PublishConfigError(PublishError):
    default_kind = "config"

    def __init__(self, message: str):
        super().__init__(message)


class SignInError(PublishError):
    default_kind = "sign_in"


class SiteNotFoundError(PublishError):
    default_kind = "site"


class ProjectNotFoundError(PublishError):
    default_kind = "project"


class PermissionDeniedError(PublishError):
    default_kind = "permission"


class ServerUnreachableError(PublishError):
    default_kind = "server"


class JobFailedError(PublishError):
    default_kind = "job_failed"


class JobTimeoutError(PublishError):
    default_kind = "job_timeout"


class PublishFailedError(PublishError):
    """Raised after a run whose publish (or refresh) failed; `report` holds the details."""

    def __init__(self, report: t.Any):
        self.report = report
        failed = [f"{r.datasource_name}: {r.error}" for r in report.failed]
        detail = "; ".join(failed) or report.error or "unknown error"
        super().__init__(
            f"Publishing to Tableau failed ({detail}). The local .hyper files and state are committed; the "
            "affected runs stay pending in the audit trail and are published by the next run.",
            kind="publish_failed",
        )


def is_session_expired(exc: BaseException) -> bool:
    """A 401 on an authenticated call: the session token expired or was invalidated."""
    from tableauserverclient.server.endpoint.exceptions import NotSignedInError

    if isinstance(exc, NotSignedInError):
        code = str(getattr(exc, "code", "") or "")
        return code != "401001"  # 401001 is a refused sign-in, not an expired session
    return False


def is_retryable(exc: BaseException) -> bool:
    """Transient failures that survived the HTTP-level retries (rate limit, 5xx, connection)."""
    import tableauserverclient as TSC
    from tableauserverclient.server.endpoint.exceptions import InternalServerError

    if isinstance(exc, InternalServerError):
        return True
    if isinstance(exc, TSC.ServerResponseError):
        return str(exc.code).startswith("429") or str(exc.code).startswith("5")
    return isinstance(exc, (requests.ConnectionError, requests.Timeout))


def explain(exc: BaseException, *, server_url: str = "", site: str = "", what: str = "") -> PublishError:
    """Turn a TSC/requests exception into a PublishError that says what is wrong in plain words."""
    import tableauserverclient as TSC
    from tableauserverclient.server.endpoint.exceptions import InternalServerError, NonXMLResponseError

    if isinstance(exc, PublishError):
        return exc
    prefix = f"{what}: " if what else ""
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return ServerUnreachableError(
            f"{prefix}cannot reach Tableau at {server_url or 'the configured URL'} "
            f"({type(exc).__name__}); check tableau_server_url and the network."
        )
    if isinstance(exc, NonXMLResponseError):
        return ServerUnreachableError(
            f"{prefix}{server_url or 'the configured URL'} did not answer like a Tableau REST API "
            "(the response was not Tableau XML); check tableau_server_url."
        )
    if isinstance(exc, InternalServerError):
        return PublishError(f"{prefix}Tableau answered HTTP {exc.code} (server error) and kept failing after retries.")
    code = str(getattr(exc, "code", "") or "")
    if isinstance(exc, TSC.ServerResponseError) and not code:  # an answer without a Tableau <error>
        return ServerUnreachableError(
            f"{prefix}{server_url or 'the configured URL'} did not answer like a Tableau REST API "
            "(no Tableau error in the response); check tableau_server_url."
        )
    summary = getattr(exc, "summary", "") or ""
    detail = getattr(exc, "detail", "") or ""
    said = f" Tableau said: {summary}{' - ' + detail if detail else ''}." if (summary or detail) else ""
    if code == "401001" and "site" in detail.lower() and "not found" in detail.lower():
        return SiteNotFoundError(
            f"{prefix}site {site!r} does not exist on {server_url or 'this server'}: tableau_site must be the "
            f"site's content URL (the part after /site/ in the browser), empty for the Default site.{said}",
            code,
            kind="site",
        )
    if code == "401001":
        return SignInError(
            f"{prefix}sign-in refused: the access token name/secret (or Connected App JWT) is wrong, "
            f"revoked or expired, or the site {site!r} does not exist (a token belongs to one site).{said}",
            code,
            kind="sign_in",
        )
    if code.startswith("401"):
        return SignInError(f"{prefix}the Tableau session is no longer valid.{said}", code, kind="sign_in")
    if code in ("404000", "404001") or "site" in summary.lower() and code.startswith("404"):
        return SiteNotFoundError(f"{prefix}site {site!r} was not found on {server_url}.{said}", code, kind="site")
    if code == "404005":
        return ProjectNotFoundError(f"{prefix}the Tableau project was not found.{said}", code, kind="project")
    if code.startswith("403"):
        return PermissionDeniedError(
            f"{prefix}permission denied: the signed-in user may not do this; ask a Tableau admin for the "
            f"Publish/Overwrite capability on the project (or Creator/Explorer-can-publish site role).{said}",
            code,
            kind="permission",
        )
    if code.startswith("429"):
        return PublishError(f"{prefix}Tableau kept rate-limiting the requests (HTTP 429).{said}", code, kind="rate_limit")
    if code.startswith("404"):
        return PublishError(f"{prefix}not found.{said}", code, kind="not_found")
    if isinstance(exc, TSC.ServerResponseError):
        return PublishError(f"{prefix}Tableau refused the request.{said}", code or None)
    # not a Tableau answer (e.g. a local Hyper error): keep its own words, shortened
    return PublishError(f"{prefix}{type(exc).__name__}: {str(exc)[:500]}")
