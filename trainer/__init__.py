"""The machinery: run config, data, training backends, run registry, evaluation, serving.

Imports neither Gradio nor LangChain, so it can run in a bare training process.
"""
