#!/usr/bin/env node
// A third-party MCP client for zava-mcp: the official TypeScript SDK over Streamable HTTP.
//
// Usage: node client.mjs [URL] [API_KEY] [SQL]
//   URL defaults to $ZAVA_MCP_URL, API_KEY to $ZAVA_MCP_KEY, SQL to $ZAVA_MCP_QUERY
//   (or "select 1 as one" when none is given).
//
// Connects with "Authorization: Bearer <key>", lists the tools, compiles each tool's input
// and output schema with Ajv in strict mode (what a client that checks schemas strictly
// sees), calls execute_sales_query with {postgresql_query: SQL} and prints ONE JSON object
// to stdout:
//   {"tools": [names...], "schemaProblems": {"<tool> <input|output>": message, ...},
//    "result": {"isError": ..., "structuredContent": ..., "text": ...}}
// Exits 0 on success; on any error prints the message to stderr and exits 1.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Ajv } from "ajv";

const TIMEOUT_MS = 60_000;

function usage(message) {
  throw new Error(`${message}\nusage: node client.mjs [URL] [API_KEY] [SQL] (or ZAVA_MCP_URL, ZAVA_MCP_KEY, ZAVA_MCP_QUERY)`);
}

async function listAllTools(client) {
  const tools = [];
  let cursor;
  do {
    const page = await client.listTools(cursor ? { cursor } : undefined, { timeout: TIMEOUT_MS });
    tools.push(...page.tools);
    cursor = page.nextCursor;
  } while (cursor);
  return tools;
}

// What Ajv's strict mode refuses in each schema (the SDK's own validator is not strict).
function strictSchemaProblems(tools) {
  const problems = {};
  for (const tool of tools) {
    for (const [kind, schema] of [["input", tool.inputSchema], ["output", tool.outputSchema]]) {
      if (!schema) continue;
      try {
        new Ajv({ strict: true, allErrors: true }).compile(schema);
      } catch (error) {
        problems[`${tool.name} ${kind}`] = error instanceof Error ? error.message : String(error);
      }
    }
  }
  return problems;
}

async function main() {
  const [urlArg, keyArg, queryArg] = process.argv.slice(2);
  const url = urlArg || process.env.ZAVA_MCP_URL;
  const key = keyArg || process.env.ZAVA_MCP_KEY;
  const query = queryArg || process.env.ZAVA_MCP_QUERY || "select 1 as one";
  if (!url) usage("no MCP URL given");
  if (!key) usage("no API key given");

  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${key}` } },
  });
  const client = new Client({ name: "zava-mcp-ts-test-client", version: "0.0.0" });
  try {
    await client.connect(transport, { timeout: TIMEOUT_MS });
    const tools = await listAllTools(client);
    const schemaProblems = strictSchemaProblems(tools);
    const result = await client.callTool(
      { name: "execute_sales_query", arguments: { postgresql_query: query } },
      undefined,
      { timeout: TIMEOUT_MS },
    );
    const firstText = (result.content ?? []).find((item) => item.type === "text");
    const output = {
      tools: tools.map((tool) => tool.name),
      schemaProblems,
      result: {
        isError: result.isError ?? false,
        structuredContent: result.structuredContent ?? null,
        text: firstText ? firstText.text : null,
      },
    };
    // Wait until the whole line is handed over: process.exit() would cut a large one short.
    await new Promise((resolve) => process.stdout.write(`${JSON.stringify(output)}\n`, resolve));
  } finally {
    try {
      await transport.terminateSession();
    } catch {
      // Ending the session is a courtesy; a server may refuse it (405) or be gone.
    }
    await client.close();
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    const message = error instanceof Error ? error.message || String(error) : String(error);
    const code = error && typeof error === "object" && "code" in error ? ` (code ${error.code})` : "";
    process.stderr.write(`${error?.name ?? "Error"}${code}: ${message}\n`);
    process.exit(1);
  },
);
