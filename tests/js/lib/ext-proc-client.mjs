// Shared scaffolding for the EPP interop tests (tests/js/epp-*.test.mjs): spawning `infergate`
// children bounded in time, plain HTTP/1.1 requests and /metrics reads, and an Envoy-like
// ext_proc client built with @grpc/grpc-js on infergate's own proto/ files.
// Every child spawned here is recorded; killChildren() (called from each test file's after hook)
// kills those still running, so no process outlives its test file.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';

export const ROOT = process.env.IG_ROOT ?? path.resolve(import.meta.dirname, '../../..');
export const BIN = process.env.IG_BIN ?? path.join(ROOT, 'build', 'infergate');
const LOAD_OPTS = { keepCase: true, enums: String, defaults: false, oneofs: true,
  includeDirs: [path.join(ROOT, 'proto'), '/usr/include'] };
const extprocDef = protoLoader.loadSync('envoy/service/ext_proc/v3/external_processor.proto', LOAD_OPTS);
export const ExternalProcessor = grpc.loadPackageDefinition(extprocDef).envoy.service.ext_proc.v3.ExternalProcessor;

// A channel-local subchannel pool: closing a client closes its connection with it, so no
// connection outlives the test that opened it.
export const CHAN_OPTS = { 'grpc.use_local_subchannel_pool': 1 };

const children = [];

export function killChildren() {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

// Spawns |args|, resolves with { child, match, output } once stdout+stderr match |re| (5 s bound);
// rejects if the child exits first.
export function startProc(args, re) {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${args[0]} did not start: ${out}`)), 5000);
    const onData = (d) => {
      out += d;
      const m = re.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, match: m, output: () => out });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`${args[0]} exited ${code}: ${out}`)));
  });
}

// `infergate sim --model m1 --port 0 <args>`; resolves with the startProc result plus port and addr.
export async function startSim(args) {
  const s = await startProc(['sim', '--model', 'm1', '--port', '0', ...args], /listening on 127\.0\.0\.1:(\d+)/);
  return { ...s, port: Number(s.match[1]), addr: `127.0.0.1:${s.match[1]}` };
}

// `infergate epp` over |endpoints| with plaintext gRPC and ephemeral ports, plus |args|; resolves
// with the startProc result plus the grpc, health and metrics ports.
export async function startEpp(endpoints, args = []) {
  const e = await startProc(['epp', '--endpoints', endpoints.join(','), '--secure-serving=false', ...args,
    '--grpc-port', '0', '--grpc-health-port', '0', '--metrics-port', '0', '--refresh-metrics-interval', '50ms',
    '-v', '1'], /listening grpc=(\d+) health=(\d+) metrics=(\d+)/);
  return { ...e, grpc: Number(e.match[1]), health: Number(e.match[2]), metrics: Number(e.match[3]) };
}

// One HTTP/1.1 request without keep-alive (an idle pooled socket would hold the test open);
// resolves with the response stream.
export function request(url, { method = 'GET', body, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false, timeout: 10000 }, resolve);
    req.on('timeout', () => req.destroy(new Error(`${url}: timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

// The /metrics page served on 127.0.0.1:|port|.
export async function metricsPage(port) {
  const r = await request(`http://127.0.0.1:${port}/metrics`);
  assert.equal(r.statusCode, 200);
  let text = '';
  for await (const c of r) text += c;
  return text;
}

// The value of the first sample of |page| whose line starts with |prefix|, or 0.
export function sample(page, prefix) {
  const line = page.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

// Polls the /metrics page on |port| every 50 ms until |pred| holds, for at most |ms|.
export async function until(port, what, pred, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (pred(await metricsPage(port))) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Waits (5 s bound) until the EPP's scraper reports |n| ready replicas.
export function untilReady(epp, n) {
  return until(epp.metrics, `${n} ready replicas`,
    (p) => new RegExp(`inference_pool_ready_pods\\{name="[^"]*"\\} ${n}`).test(p), 5000);
}

// ---- an Envoy-like ext_proc client ----------------------------------------------------------

export const hdr = (key, value) => ({ key, raw_value: Buffer.from(value) });

// The header mutations of a CommonResponse as a { lower-case name: value } object.
export const setHeaders = (common) => Object.fromEntries((common?.header_mutation?.set_headers ?? [])
  .map((o) => [o.header.key.toLowerCase(), o.header.raw_value?.length ? o.header.raw_value.toString()
    : o.header.value]));

export function newClient(port, creds = grpc.credentials.createInsecure()) {
  return new ExternalProcessor(`127.0.0.1:${port}`, creds, CHAN_OPTS);
}

// Opens a Process stream (|ms| deadline); replies are queued and handed out in order by next(),
// which waits at most 10 s for one.
export function openStream(client, ms = 20000) {
  const call = client.Process({ deadline: Date.now() + ms });
  const queue = [];
  const waiters = [];
  let status = null;
  const statusP = new Promise((resolve) => call.on('status', (s) => { status = s; resolve(s); }));
  call.on('data', (m) => { if (waiters.length) waiters.shift()(m); else queue.push(m); });
  call.on('error', () => {});
  return {
    call,
    status: () => statusP,
    next: () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no reply (status ${JSON.stringify(status)})`)), 10000);
      waiters.push((m) => { clearTimeout(t); resolve(m); });
    })),
    pending: () => queue.length,
  };
}
