// Drives the official Anthropic TypeScript SDK against a modelrunner server and prints one JSON
// report on stdout; tests/typescript/test_anthropic_typescript_sdk.py asserts on it.
// Usage: node sdk_check.mjs BASE_URL MODEL
import Anthropic from "@anthropic-ai/sdk";

const [baseURL, model] = process.argv.slice(2);
const client = new Anthropic({ baseURL, apiKey: "not-needed", maxRetries: 0 });
const weatherTool = {
  name: "get_weather",
  description: "Get the current weather in a city",
  input_schema: {
    type: "object",
    properties: { city: { type: "string", enum: ["Paris", "Rome"] } },
    required: ["city"],
  },
};
const ask = [{ role: "user", content: "What is the weather in Paris?" }];

const created = await client.messages.create({ model, max_tokens: 16, messages: ask });

const events = [];
const stream = client.messages.stream({ model, max_tokens: 16, messages: ask });
let streamedText = "";
stream.on("streamEvent", (event) => events.push(event.type));
stream.on("text", (text) => { streamedText += text; });
const final = await stream.finalMessage();

const toolMessage = await client.messages.create({
  model, max_tokens: 400, messages: ask, tools: [weatherTool],
  tool_choice: { type: "tool", name: "get_weather" },
});
const toolStream = client.messages.stream({
  model, max_tokens: 400, messages: ask, tools: [weatherTool],
  tool_choice: { type: "tool", name: "get_weather" },
});
const toolFinal = await toolStream.finalMessage();

const counted = await client.messages.countTokens({ model, messages: ask, tools: [weatherTool] });
const countedUsage = (await client.messages.create({ model, max_tokens: 1, messages: ask, tools: [weatherTool] })).usage;

const models = [];
for await (const item of client.models.list()) models.push(item.id);

let notFound = null;
try {
  await client.messages.create({ model: "ai/does-not-exist", max_tokens: 5, messages: ask });
} catch (error) {
  notFound = { status: error.status, type: error.error?.error?.type };
}

console.log(JSON.stringify({
  created: { id: created.id, model: created.model, content: created.content, stop_reason: created.stop_reason, usage: created.usage },
  stream: { events, text: streamedText, final },
  tool: { message: toolMessage, streamed: toolFinal },
  count: { input_tokens: counted.input_tokens, generation: countedUsage.input_tokens + countedUsage.cache_read_input_tokens },
  models,
  notFound,
}));
