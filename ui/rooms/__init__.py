"""The web UI's rooms beside the chat, one module each; ui/web.py calls each room's add_* inside its tab."""
