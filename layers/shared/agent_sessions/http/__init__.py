"""HTTP edge: Powertools resolvers for the buffered routes, an ASGI app for the SSE reader."""
