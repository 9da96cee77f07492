"""The inspection report, profiles per kind of data, the format rules, the streaming checker."""
