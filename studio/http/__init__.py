"""The studio's HTTP layer: the FastAPI app and its routes, over the composition root's services.

    app.py         create_app(services): /sdapi/v1, /studio/v1, extension routes, the UI at /
    a1111.py       AUTOMATIC1111-compatible routes under /sdapi/v1
    native.py      Atelier's job API under /studio/v1
    library.py     /studio/v1/styles (styles.csv) and /studio/v1/networks (Extra Networks cards)
    extensions.py  /studio/v1/scripts and /studio/v1/extensions (install, enable, update ...)
    checks.py      the check every generation request passes before it is queued
    security.py    HTTP Basic auth and the request body limit (ASGI middleware)
    errors.py      how errors become responses (422 naming the field, 404, 409)
    images.py      images in payloads: base64 in, base64 PNG out
    services.py    the services the routes use, as a Protocol

The routes reach the engine only through those services (the job queue for generation), never
by importing `studio.pipeline`. Extensions do not import this package: their surface is
`studio.api`.
"""
