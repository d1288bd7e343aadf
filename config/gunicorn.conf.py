"""gunicorn settings for Backorder Desk (``gunicorn -c config/gunicorn.conf.py config.wsgi``)."""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "2"))
timeout = 30  # webhook senders give up after a few seconds; nothing here should run long
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then, each at its own random point: with a narrow jitter, workers started
# together and fed evenly reached the limit within a second of each other, and while both rebooted
# nobody answered (webhook senders give up after 5 s). Half the limit as jitter spreads the restarts
# over hundreds of requests.
max_requests = int(os.environ.get("WEB_MAX_REQUESTS", "2000"))
max_requests_jitter = int(os.environ.get("WEB_MAX_REQUESTS_JITTER", str(max_requests // 2)))
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
logger_class = "config.gunicorn_logging.RedactingLogger"  # secret query parameters never reach the access log
