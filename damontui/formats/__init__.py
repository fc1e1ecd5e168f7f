"""File formats other tools use: damo's kdamonds JSON and record files."""
