// prettyfy as a wasi:http component, in JavaScript: the JSON pretty-printer of samples/python-http,
// built by componentize-js (SpiderMonkey inside StarlingMonkey) into a `wasi:http/proxy` component
// whose engine and this module are pre-initialised (Wizer snapshot taken at build time).
//
// Request: POST a JSON document as the body; query options `indent=N` (0..8, default 2) and
// `sort=1` (sort object keys). A GET, or an empty body, answers a short usage text.
// Response: 200 `application/json` with the document re-indented, or 400 `text/plain` with the
// parse error (413 past MAX_BODY bytes).
//
// StarlingMonkey wires `wasi:http/incoming-handler.handle` to the service-worker style `fetch`
// event: no glue of our own, and the module must not export `incomingHandler` (that would switch
// componentize-js to hand-written wasi:http bindings).

// The largest document accepted (the route's memory limit bounds the rest).
const MAX_BODY = 16 * 1024 * 1024;

const USAGE =
  "prettyfy: POST a JSON document; options: ?indent=N&sort=1\n" +
  "javascript (SpiderMonkey, StarlingMonkey) on wasi (wasi:http component)\n";

const TEXT = "text/plain; charset=utf-8";
const JSON_TYPE = "application/json; charset=utf-8";

// [indent, sortKeys] from the query string; bad or unknown values fall back to the defaults.
function options(url) {
  const params = new URL(url).searchParams;
  let indent = 2;
  const raw = params.get("indent") ?? "";
  if (/^[0-9]+$/.test(raw) && Number(raw) <= 8) {
    indent = Number(raw);
  }
  const sortKeys = ["1", "true", "yes"].includes(params.get("sort") ?? "0");
  return [indent, sortKeys];
}

class TooLarge extends Error {}

// The whole request body as bytes, read as it streams in; TooLarge once past `limit`.
async function readBody(request, limit) {
  if (request.body === null) {
    return new Uint8Array(0);
  }
  const reader = request.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) {
      break;
    }
    size += value.byteLength;
    if (size > limit) {
      throw new TooLarge(`request body larger than ${limit} bytes`);
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

// JSON.stringify replacer: plain objects re-created with their keys in sorted order.
function sortedKeys(_key, value) {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return value;
  }
  const sorted = {};
  for (const key of Object.keys(value).sort()) {
    sorted[key] = value[key];
  }
  return sorted;
}

function respond(status, contentType, text) {
  return new Response(text, { status, headers: { "content-type": contentType } });
}

async function handle(request) {
  const [indent, sortKeys] = options(request.url);
  let body = new Uint8Array(0);
  if (request.method === "POST" || request.method === "PUT") {
    try {
      body = await readBody(request, MAX_BODY);
    } catch (err) {
      if (err instanceof TooLarge) {
        return respond(413, TEXT, `${err.message}\n`);
      }
      throw err;
    }
  }
  let text;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(body);
  } catch (err) {
    return respond(400, TEXT, `invalid JSON: ${err.message}\n`);
  }
  if (text.trim() === "") {
    return respond(200, TEXT, USAGE);
  }
  let document;
  try {
    document = JSON.parse(text);
  } catch (err) {
    return respond(400, TEXT, `invalid JSON: ${err.message}\n`);
  }
  const pretty = JSON.stringify(document, sortKeys ? sortedKeys : null, indent);
  return respond(200, JSON_TYPE, pretty + "\n");
}

addEventListener("fetch", (event) => event.respondWith(handle(event.request)));
