/**
 * The client's smoke test against a running API (`make dev`, or the test stack): creates
 * a poll, votes in it and reads its results once the tally has counted the vote; then
 * makes an API key that may read results, reads them with it, and deletes it.
 *
 *   BALLOT_API_URL=http://127.0.0.1:3000 BALLOT_TOKEN=<an editor's access token> npm run smoke
 *
 * Exits 0 when every step answered as the document says, 1 with the step and the problem
 * otherwise.
 */
import { randomUUID } from "node:crypto";
import { ballotClient, type Problem } from "../src/index.js";

const baseUrl = process.env.BALLOT_API_URL ?? "http://127.0.0.1:3000";
const token = process.env.BALLOT_TOKEN;
if (!token) {
  console.error("BALLOT_TOKEN must be an editor's access token (README: make dev, then log in)");
  process.exit(2);
}
const api = ballotClient({ baseUrl, token: () => token });

function fail(step: string, problem: Problem | undefined, status: number): never {
  console.error(`smoke: ${step} answered ${status}: ${JSON.stringify(problem)}`);
  process.exit(1);
}

const health = await api.GET("/v1/health");
if (!health.data || health.data.status !== "ok") fail("GET /v1/health", undefined, health.response.status);

const created = await api.POST("/v1/polls", {
  body: {
    question: "Smoke test: tea or coffee?",
    options: [{ text: "Tea" }, { text: "Coffee" }],
    results_visibility: "always",
  },
});
if (!created.data) fail("POST /v1/polls", created.error, created.response.status);
const poll = created.data;
const coffee = poll.options[1];
if (!coffee) fail("POST /v1/polls (its options)", undefined, created.response.status);
console.log(`created poll ${poll.id} (version ${poll.version})`);

const voted = await api.POST("/v1/polls/{id}/votes", {
  params: { path: { id: poll.id }, header: { "Idempotency-Key": randomUUID() } },
  body: { option_ids: [coffee.id] },
});
if (!voted.data) fail("POST /v1/polls/{id}/votes", voted.error, voted.response.status);
console.log(`voted ${voted.data.option_ids.join(",")} (${voted.response.status})`);

// The tally counts from the table's stream, a moment after the vote: read until it has.
const deadline = Date.now() + 30_000;
for (;;) {
  const results = await api.GET("/v1/polls/{id}/results", { params: { path: { id: poll.id } } });
  if (!results.data) fail("GET /v1/polls/{id}/results", results.error, results.response.status);
  const counted = results.data.options.find((option) => option.id === coffee.id);
  if (results.data.total_ballots === 1 && counted?.votes === 1) {
    console.log(`results: ${results.data.options.map((o) => `${o.text} ${o.votes}`).join(", ")}`);
    break;
  }
  if (Date.now() > deadline) fail("GET /v1/polls/{id}/results (the vote counted)", undefined, results.response.status);
  await new Promise((resolve) => setTimeout(resolve, 200));
}
// A server's view: an API key with the one scope it needs, used as the bearer credential.
const made = await api.POST("/v1/api-keys", { body: { name: "smoke", scopes: ["results:read"] } });
if (!made.data) fail("POST /v1/api-keys", made.error, made.response.status);
const key = made.data;
const server = ballotClient({ baseUrl, token: () => key.key });
const read = await server.GET("/v1/polls/{id}/results", { params: { path: { id: poll.id } } });
if (read.data?.total_ballots !== 1) fail("GET /v1/polls/{id}/results with the key", read.error, read.response.status);
const beyond = await server.POST("/v1/polls", { body: { question: "Not mine to ask?", options: [{ text: "a" }, { text: "b" }] } });
if (beyond.response.status !== 403) fail("POST /v1/polls with a results:read key", beyond.error, beyond.response.status);
const deleted = await api.DELETE("/v1/api-keys/{id}", { params: { path: { id: key.id } } });
if (deleted.response.status !== 204) fail("DELETE /v1/api-keys/{id}", deleted.error, deleted.response.status);
console.log(`api key ${key.id}: read the results, refused a poll, deleted`);

console.log("smoke: ok");
