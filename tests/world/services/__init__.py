"""One module per real server of the test world; each registers a world.Service."""
