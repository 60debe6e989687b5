/**
 * A typed client of ballot's REST API.
 *
 * `paths` and `components` (./schema.d.ts) are generated from `infra/openapi.yaml` by
 * openapi-typescript (`npm run generate`; CI checks that regenerating changes nothing), and
 * calls go through openapi-fetch, so every path, parameter, body and answer is checked by
 * the compiler against the document the server is tested against.
 *
 * ```ts
 * const api = ballotClient({ baseUrl: "http://127.0.0.1:3000", token: () => accessToken });
 * const { data, error } = await api.GET("/v1/polls/{id}/results", { params: { path: { id } } });
 * ```
 */
import createClient, { type Client, type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema.js";

export type { components, paths };

/** An error answer: RFC 9457 problem+json, `type` is `urn:ballot:problem:<slug>`. */
export type Problem = components["schemas"]["Problem"];

export interface Options {
  /** The API's base URL: `https://<api>.execute-api.<region>.amazonaws.com/<stage>`, or `http://127.0.0.1:3000` for `make dev`. */
  baseUrl: string;
  /** The bearer credential of each request (an access token or an API key), read per request so a refreshed one is used. */
  token?: () => string | undefined;
  /** A `fetch` of your own (tests, retries); the global one by default. */
  fetch?: typeof globalThis.fetch;
}

/** A client of the API at `options.baseUrl`. */
export function ballotClient(options: Options): Client<paths> {
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const client = createClient<paths>(options.fetch ? { baseUrl, fetch: options.fetch } : { baseUrl });
  const token = options.token;
  if (token) {
    const bearer: Middleware = {
      onRequest({ request }) {
        const value = token();
        if (value) request.headers.set("Authorization", `Bearer ${value}`);
        return request;
      },
    };
    client.use(bearer);
  }
  return client;
}
