// Drives the official Anthropic TypeScript SDK's Message Batches surface against a modelrunner server
// and prints one JSON report on stdout; tests/typescript/test_message_batches_typescript.py asserts on it.
// Usage: node batches_check.mjs BASE_URL MODEL
import Anthropic from "@anthropic-ai/sdk";

const [baseURL, model] = process.argv.slice(2);
const client = new Anthropic({ baseURL, apiKey: "not-needed", maxRetries: 0 });
const params = { model, max_tokens: 4, messages: [{ role: "user", content: "Say hi" }] };

const created = await client.messages.batches.create({
  requests: [
    { custom_id: "ok", params },
    { custom_id: "missing-model", params: { ...params, model: "ai/does-not-exist" } },
  ],
});
let batch = created;
const deadline = Date.now() + 120_000;
while (batch.processing_status !== "ended" && Date.now() < deadline) {
  await new Promise((resolve) => setTimeout(resolve, 200));
  batch = await client.messages.batches.retrieve(created.id);
}
const results = [];
for await (const line of await client.messages.batches.results(created.id)) results.push(line);
const listed = [];
for await (const item of client.messages.batches.list({ limit: 1 })) {
  listed.push(item.id);
  if (listed.length >= 3) break;
}
const deleted = await client.messages.batches.delete(created.id);
let badBatch = null;
try {
  await client.messages.batches.create({ requests: [{ custom_id: "bad id", params }] });
} catch (error) {
  badBatch = { status: error.status, type: error.error?.error?.type, message: error.error?.error?.message };
}

console.log(JSON.stringify({ created, ended: batch, results, listed, deleted, badBatch }));
