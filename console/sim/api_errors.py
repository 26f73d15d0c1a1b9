"""metav1.Status errors, shaped like the real apiserver's (code, reason,
message, details) so that kubectl and the Python client react to them the way
they react to a real cluster (e.g. kubectl drain retries on 429)."""
from __future__ import annotations

import json

# HTTP code for each StatusReason the simulator uses
CODES = {
    "BadRequest": 400, "Unauthorized": 401, "Forbidden": 403, "NotFound": 404,
    "MethodNotAllowed": 405, "NotAcceptable": 406, "AlreadyExists": 409, "Conflict": 409,
    "Gone": 410, "Expired": 410, "RequestEntityTooLarge": 413, "UnsupportedMediaType": 415,
    "Invalid": 422, "TooManyRequests": 429, "InternalError": 500, "Timeout": 504,
}


class ApiError(Exception):
    def __init__(self, reason: str, message: str, *, code: int | None = None,
                 details: dict | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.code = code or CODES.get(reason, 500)
        self.details = details

    def status(self) -> dict:
        st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            st["details"] = self.details
        return st

    def body(self) -> bytes:
        return json.dumps(self.status()).encode()


def not_found(res, name: str) -> ApiError:
    group = res.group
    what = f"{res.plural}.{group}" if group else res.plural
    return ApiError("NotFound", f'{what} "{name}" not found',
                    details={"name": name, "group": group, "kind": res.plural})


def already_exists(res, name: str) -> ApiError:
    what = f"{res.plural}.{res.group}" if res.group else res.plural
    return ApiError("AlreadyExists", f'{what} "{name}" already exists',
                    details={"name": name, "group": res.group, "kind": res.plural})


def conflict(res, name: str, why: str = "the object has been modified; please apply your "
                                           "changes to the latest version and try again") -> ApiError:
    what = f"{res.plural}.{res.group}" if res.group else res.plural
    return ApiError("Conflict", f'Operation cannot be fulfilled on {what} "{name}": {why}',
                    details={"name": name, "group": res.group, "kind": res.plural})


def invalid(res, name: str, causes: list[tuple[str, str]]) -> ApiError:
    """causes: (field, message) pairs, e.g. ("metadata.name", "Required value")."""
    text = ", ".join(f"{f}: {m}" for f, m in causes)
    return ApiError("Invalid", f'{res.kind} "{name}" is invalid: {text}',
                    details={"name": name, "group": res.group, "kind": res.kind,
                             "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f}
                                        for f, m in causes]})


def bad_request(message: str) -> ApiError:
    return ApiError("BadRequest", message)


def expired(message: str) -> ApiError:
    return ApiError("Expired", message)


def success_status(details: dict | None = None) -> dict:
    st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        st["details"] = details
    return st
