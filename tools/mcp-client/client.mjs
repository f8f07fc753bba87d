// An MCP client nobody on this project wrote: the official TypeScript SDK's, against appsync's /mcp.
//
// Usage: node client.mjs URL TOKEN QUERY
// Connects (Streamable HTTP, bearer token), lists the tools, calls search_operations with QUERY,
// describes the first hit, and prints one JSON report on stdout. Exit 1 on any failure, the
// report then says which. Its packages: package.json and package-lock.json here, installed
// outside the repository by scripts/install-mcp-client.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token, query] = process.argv.slice(2);
if (!url || !token || !query) {
  console.error("usage: node client.mjs URL TOKEN QUERY");
  process.exit(2);
}

const http = [];
async function recordingFetch(input, init = {}) {
  let method = "";
  try { method = JSON.parse(init.body ?? "null")?.method ?? ""; } catch { /* not JSON */ }
  const signal = AbortSignal.any([AbortSignal.timeout(30_000), init.signal].filter(Boolean));
  const response = await fetch(input, { ...init, signal });
  http.push(`${init.method ?? "GET"} ${new URL(input).pathname} ${method} -> ${response.status}`);
  return response;
}

const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
  fetch: recordingFetch,
});
const client = new Client({ name: "appsync-ts-check", version: "1.0.0" });
const options = { timeout: 30_000 };
const texts = (result) => result.content.filter((c) => c.type === "text").map((c) => c.text);

let exitCode = 0;
let report;
try {
  await client.connect(transport, options);
  const tools = await client.listTools(undefined, options);
  const search = await client.callTool(
    { name: "search_operations", arguments: { query, k: 3 } }, undefined, options);
  const first = search.structuredContent?.results?.[0]?.uid;
  const describe = first
    ? await client.callTool({ name: "describe_operation", arguments: { uid: first } }, undefined, options)
    : null;
  report = {
    protocolVersion: transport.protocolVersion ?? null,
    server: client.getServerVersion(),
    tools: tools.tools.map((t) => ({
      name: t.name, input: Object.keys(t.inputSchema?.properties ?? {}), output: Boolean(t.outputSchema),
    })),
    search: { isError: search.isError ?? false, text: texts(search), structured: search.structuredContent ?? null },
    describe: describe && { isError: describe.isError ?? false, structured: describe.structuredContent ?? null },
    http,
  };
} catch (error) {
  report = { error: String(error), code: error?.code ?? null, http };
  exitCode = 1;
} finally {
  await client.close().catch(() => {});
}
console.log(JSON.stringify(report, null, 2));
process.exit(exitCode);
