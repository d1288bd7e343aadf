"""gunicorn settings for Backorder Desk (``gunicorn -c config/gunicorn.conf.py config.wsgi``)."""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "2"))
timeout = 30  # webhook senders give up after a few seconds; nothing here should run long
graceful_timeout = 20
keepalive = 5
max_requests = 2000  # recycle workers now and then
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
logger_class = "config.gunicorn_logging.RedactingLogger"  # secret query parameters never reach the access log
