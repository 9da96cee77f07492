"""The run config, plans (a config with its reasons), hardware detection and distributed launch."""
