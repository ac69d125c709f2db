"""Docker work pools: flow runs in containers through the Docker Engine API (Docker or Podman)."""
