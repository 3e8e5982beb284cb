"""The local stack: embedded DynamoDB, every route on one HTTP server, runs on threads."""
