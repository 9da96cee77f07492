"""`tunechat mcp`: the chat's tools served over the Model Context Protocol, for Claude Desktop, Cursor or any MCP
client.

- toolbox.py: the tool list (tools/registry.py's TOOLS, described as the chat's LLM reads them, plus `add_file`,
  `confirm` and `cancel`), each call run with the server's ToolContext and answered as JSON and markdown.
- plans.py: what waits for a yes. A tool that would start, spend or change something stores its plan
  (tools/pending.py) and nothing happens; `confirm` with that plan's id carries it out exactly once.
- files.py: the folders files may be added from (`--allow DIR`), checked after every link is resolved.
- server.py: the transports, stdio and streamable HTTP (127.0.0.1 unless told otherwise).
"""
