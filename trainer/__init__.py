"""The machinery, one folder per stage: core, store, data, inspection, tasks, plan, evaluate, serve, backends.

Imports neither Gradio nor LangChain nor the agent, so it runs in a bare training or serving process.
"""
