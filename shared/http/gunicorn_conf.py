"""gunicorn settings of every service's API: `gunicorn -c python:shared.http.gunicorn_conf 'services.x:create_app()'`.

The request line may be as long as gunicorn allows (8,190 bytes; its default of 4,094 refused a
`where=` filter well under the documented 4,000 characters once percent-encoded), the app itself
answers targets beyond shared.http.guard.MAX_TARGET_BYTES with a 414 problem, and whatever
gunicorn refuses on its own is answered as problem JSON too (see shared.http.serving).
Command-line options (--bind, --workers, ...) still apply on top of these.
"""

from shared.http.serving import install_gunicorn_error_page

limit_request_line = 8190


def post_fork(server, worker) -> None:
    """Each worker answers the requests gunicorn refuses with problem bodies."""
    install_gunicorn_error_page()
