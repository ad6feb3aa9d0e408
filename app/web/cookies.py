"""The names the browser sends credentials under: the session and anonymous CSRF cookies, the
CSRF form field and header. Templates render them; app.auth reads them."""

SESSION_COOKIE = "trellis_session"
CSRF_COOKIE = "trellis_csrf"  # signed token for anonymous forms (login), double-submit style
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
