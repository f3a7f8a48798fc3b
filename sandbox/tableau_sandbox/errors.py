"""Tableau REST API errors: HTTP status plus Tableau's six-digit error code.

The codes follow the Tableau REST API reference. Where the reference does not document a code
for a situation the sandbox needs, the generic code of the HTTP status is used (noted below).
"""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, code: str, summary: str, detail: str, headers: dict | None = None):
        super().__init__(f"{code} {summary}: {detail}")
        self.status = status
        self.code = code
        self.summary = summary
        self.detail = detail
        self.headers = headers or {}


def bad_request(detail: str, code: str = "400000") -> ApiError:
    return ApiError(400, code, "Bad Request", detail)


def signin_error(detail: str = "Error signing in to Tableau Server") -> ApiError:
    return ApiError(401, "401001", "Signin Error", detail)


def unauthorized(detail: str = "Invalid authentication credentials were provided.") -> ApiError:
    return ApiError(401, "401002", "Unauthorized Access", detail)


def forbidden(code: str, detail: str) -> ApiError:
    return ApiError(403, code, "Forbidden", detail)


def not_found(code: str, what: str, ident: str) -> ApiError:
    return ApiError(404, code, "Resource Not Found", f"{what} '{ident}' could not be found.")


def conflict(code: str, detail: str) -> ApiError:
    return ApiError(409, code, "Resource Conflict", detail)


# 404 codes by resource (Tableau REST API reference).
NOT_FOUND_SITE = "404000"
NOT_FOUND_USER = "404002"
NOT_FOUND_PROJECT = "404005"
NOT_FOUND_WORKBOOK = "404006"
NOT_FOUND_DATASOURCE = "404011"
NOT_FOUND_SCHEDULE = "404013"
NOT_FOUND_UPLOAD = "404004"  # upload session (file upload) not found
NOT_FOUND_TASK = "404030"
NOT_FOUND_JOB = "404031"
NOT_FOUND_WEBHOOK = "404043"
NOT_FOUND_CONNECTION = "404020"

# 403 codes.
FORBIDDEN_PUBLISH = "403004"  # caller lacks the project permission for this operation
FORBIDDEN_SCOPE = "403078"  # operation not allowed for this session (e.g. JWT scopes)
FORBIDDEN_CLOUD_ONLY = "403000"  # server-only feature called on Tableau Cloud (generic 403)

# 409 codes.
CONFLICT_NAME = "409004"
CONFLICT_PROJECT_NAME = "409006"
CONFLICT_DUPLICATE_EXTRACT_JOB = "409093"  # TSC: DUPLICATE_EXTRACT_JOB_CODE
