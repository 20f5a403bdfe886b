// The conformance plan sent with Node's built-in clients: fetch (undici) and the http module.
// Usage: node client.mjs BASE_URL PLAN.json. Prints one JSON line per check and client:
// {client, check, status, headers: {name: [values]}, body: base64, version} or {client, check, error}.
import { readFileSync } from "node:fs";
import http from "node:http";

const [base, planPath] = process.argv.slice(2);
const plan = JSON.parse(readFileSync(planPath, "utf8")).filter((check) => !check.http10);

function headersOf(check, { withoutContentType = false } = {}) {
  return check.headers.filter(
    ([name]) => !(withoutContentType && name.toLowerCase() === "content-type"),
  );
}

async function withFetch(url, check) {
  let body;
  let headers = headersOf(check);
  if (check.form.length) {
    // fetch's own multipart encoder: FormData, files as Blobs
    body = new FormData();
    for (const item of check.form) {
      if (item.value !== null) body.append(item.name, item.value);
      else
        body.append(
          item.name,
          new Blob([Buffer.from(item.data, "base64")], { type: item.type }),
          item.filename,
        );
    }
    headers = headersOf(check, { withoutContentType: true });
  } else if (check.body) {
    body = Buffer.from(check.body, "base64");
  }
  const answer = await fetch(url, { method: check.method, headers, body });
  const seen = {};
  for (const [name, value] of answer.headers) {
    if (name !== "set-cookie") seen[name] = [value];
  }
  // getSetCookie() keeps each Set-Cookie line (Node 18.14+); before it, fetch joined them
  const joined = answer.headers.get("set-cookie");
  const cookies =
    typeof answer.headers.getSetCookie === "function"
      ? answer.headers.getSetCookie()
      : joined === null
        ? []
        : [joined];
  if (cookies.length) seen["set-cookie"] = cookies;
  const bytes = Buffer.from(await answer.arrayBuffer());
  return { status: answer.status, headers: seen, body: bytes.toString("base64"), version: null };
}

function withHttp(url, check) {
  return new Promise((resolve, reject) => {
    const headers = Object.fromEntries(check.headers); // Node adds Host and Content-Length
    const request = http.request(url, { method: check.method, headers }, (answer) => {
      const chunks = [];
      answer.on("data", (chunk) => chunks.push(chunk));
      answer.on("end", () => {
        const seen = {};
        const raw = answer.rawHeaders;
        for (let i = 0; i < raw.length; i += 2) {
          const name = raw[i].toLowerCase();
          (seen[name] ??= []).push(raw[i + 1]);
        }
        resolve({
          status: answer.statusCode,
          headers: seen,
          body: Buffer.concat(chunks).toString("base64"),
          version: answer.httpVersion,
        });
      });
      answer.on("error", reject);
    });
    request.on("error", reject);
    request.setTimeout(10000, () => request.destroy(new Error("timed out")));
    request.end(check.body ? Buffer.from(check.body, "base64") : undefined);
  });
}

for (const [client, send] of [
  ["node-fetch", withFetch],
  ["node-http", withHttp],
]) {
  for (const check of plan) {
    const url = `${base}/~${client}${check.path}`;
    try {
      const seen = await send(url, check);
      console.log(JSON.stringify({ client, check: check.name, ...seen }));
    } catch (error) {
      const cause = error.cause ? `: ${error.cause}` : "";
      console.log(JSON.stringify({ client, check: check.name, error: `${error}${cause}` }));
    }
  }
}
