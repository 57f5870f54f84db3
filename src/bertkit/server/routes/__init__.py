"""The endpoints, one router per group (each route turns its JSON into one library call):

page.py    GET  /  (the page, src/bertkit/web/), GET /health
qa.py      POST /v1/qa, /v1/qa/batch
text.py    POST /v1/tokenize, /v1/fill-mask, /v1/nsp, /v1/ner, /v1/embed, /v1/attention
plots.py   POST /v1/plot/qa, /v1/plot/tokenize, /v1/plot/attention, /v1/plot/attends-to, /v1/plot/ner
"""

from __future__ import annotations

from . import page, plots, qa, text

# In the order of the OpenAPI schema's paths.
ROUTERS = [page.router, qa.router, text.router, plots.router]
