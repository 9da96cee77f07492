"""The rooms people enter: the command line, the Gradio chat, the terminal chat; and how they show results."""
