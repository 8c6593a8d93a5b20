"""The HTTP server for programs (``python -m fer serve``): robots, agents and apps send images or a
camera's frames and get faces back as JSON.

Rooms: ``settings`` (what a server is started with), ``body`` (bounded, timed request bodies and
multipart), ``options`` (query options -> a cached ``FramePipeline``), ``routes`` (the HTTP
endpoints), ``stream`` (the WebSocket: one live session per connection), ``openapi`` (the schema),
``app`` (the Starlette application), ``server`` (uvicorn with a deadline on request heads), ``cli``
(the ``serve`` command). The engine does the work; nothing here knows how a face is found.
"""
