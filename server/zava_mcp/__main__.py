from zava_mcp.cli import main

main()
