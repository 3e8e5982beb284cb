"""Example agents. `make dev` loads them next to demo-chat."""
