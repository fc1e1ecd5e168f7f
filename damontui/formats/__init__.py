"""Format codecs, outside any backend: damo's kdamonds JSON (damo_json), TOML output
(toml_out) and unit formatting (units). Importing the package imports nothing else."""
