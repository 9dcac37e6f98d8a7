"""Domain errors of the API, mapped to HTTP responses in one handler (api/main.py)."""


class ApiError(Exception):
    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(ApiError):
    status_code = 404


class Unauthorized(ApiError):
    status_code = 401


class Forbidden(ApiError):
    status_code = 403
