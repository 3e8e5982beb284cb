"""Function URL app (uvicorn behind the Lambda Web Adapter): SSE reads plus `.in` appends.

Serving the browser's two routes from one URL lets a transport point `baseURL` here alone.
"""

from agent_sessions.http.realtime_app import create_app

app = create_app()
