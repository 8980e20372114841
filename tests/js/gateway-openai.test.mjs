// Interop: the official OpenAI SDK for JavaScript through `infergate gateway` to two `infergate sim`
// replicas, one a service endpoint and one a host backend, weighted 1:1 on one route. Chat and completions, streaming and not,
// SDK error classes for upstream errors and for the gateway's own 404, and both replicas serving.
// The test starts every process itself ($IG_BIN) on free ports and stops them with SIGTERM,
// expecting clean exits.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import OpenAI from 'openai';

const BIN = process.env.IG_BIN;
const MODEL = 'gw-model';
const procs = [];
let client;
let base;

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function start(args) {
  const p = { log: '' };
  p.child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  p.child.stdout.on('data', (d) => { p.log += d; });
  p.child.stderr.on('data', (d) => { p.log += d; });
  p.exit = new Promise((resolve) => p.child.once('exit', (code, signal) => resolve({ code, signal })));
  procs.push(p);
  return p;
}

async function waitStatus(url, p, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (r.status === 200) return;
    } catch {
      /* not up yet */
    }
    if (p.child.exitCode !== null) throw new Error(`process exited (${p.child.exitCode}):\n${p.log}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} not ready after ${ms} ms:\n${p.log}`);
}

before(async () => {
  assert.ok(BIN, 'IG_BIN must point at the infergate binary');
  process.once('exit', () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  });
  const simPorts = [await freePort(), await freePort()];
  const sims = simPorts.map((port) => start(['sim', '--host', '127.0.0.1', '--port', String(port), '--model', MODEL,
    '--decode-ms', '1', '--prefill-overhead-ms', '0']));
  await Promise.all(sims.map((s, i) => waitStatus(`http://127.0.0.1:${simPorts[i]}/health`, s, 10000)));
  const [gp, rp] = [await freePort(), await freePort()];
  const config = {
    config: { adminAddr: 'off', statsAddr: 'off', readinessAddr: `127.0.0.1:${rp}`, workerThreads: 2 },
    services: [
      { name: 'a', namespace: 'default', hostname: 'a', vips: [], ports: { 8000: 8000 } },
    ],
    workloads: [
      { namespace: 'default', workloadIps: ['127.0.0.1'], services: { 'default/a': { 8000: simPorts[0] } } },
    ],
    binds: [{
      port: gp,
      listeners: [{
        routes: [
          { name: 'openai', matches: [{ path: { pathPrefix: '/v1' } }],
            backends: [{ service: { name: 'default/a', port: 8000 }, weight: 1 },
              { host: `127.0.0.1:${simPorts[1]}`, weight: 1 }] },
        ],
      }],
    }],
  };
  const gw = start(['gateway', '-c', JSON.stringify(config)]);
  await waitStatus(`http://127.0.0.1:${rp}/healthz/ready`, gw, 10000);
  base = `http://127.0.0.1:${gp}`;
  client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'x', timeout: 20000, maxRetries: 0 });
});

after(async () => {
  // the gateway first (it drains), then the simulators
  for (const p of [...procs].reverse()) {
    if (p.child.exitCode !== null) continue;
    p.child.kill('SIGTERM');
    const timer = setTimeout(() => p.child.kill('SIGKILL'), 10000);
    const { code, signal } = await p.exit;
    clearTimeout(timer);
    assert.equal(signal, null, `killed by ${signal}:\n${p.log}`);
    assert.equal(code, 0, `exit status ${code}:\n${p.log}`);
  }
});

test('chat.completions.create through the gateway, not streaming', { timeout: 20000 }, async () => {
  const r = await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: 'Say something.' }],
    max_tokens: 6,
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, MODEL);
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.choices[0].message.content, ' the and for you not are');
  assert.equal(r.usage.completion_tokens, 6);
});

test('chat.completions.create through the gateway, streaming with usage', { timeout: 20000 }, async () => {
  const stream = await client.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: 'Stream, please.' }],
    max_tokens: 12,
    stream: true,
    stream_options: { include_usage: true },
  });
  let chunks = 0;
  let usage;
  let finish;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    if (chunk.choices.length === 0) continue;
    chunks++;
    if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
  }
  assert.equal(chunks, 12);
  assert.equal(finish, 'length');
  assert.equal(usage.completion_tokens, 12);
});

test('completions.create streaming, and both backends serve', { timeout: 30000 }, async () => {
  const replicas = new Set();
  for (let i = 0; i < 24; i++) {
    const { data, response } = await client.completions
      .create({ model: MODEL, prompt: 'Count:', max_tokens: 3, stream: true })
      .withResponse();
    replicas.add(response.headers.get('x-infergate-replica'));
    const texts = [];
    for await (const chunk of data) for (const c of chunk.choices) texts.push(c.text);
    assert.deepEqual(texts, [' the', ' and', ' for']);
  }
  assert.equal(replicas.size, 2, `replicas seen: ${[...replicas]}`);
});

test('errors surface as the SDK error classes through the gateway', { timeout: 20000 }, async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404,
  );
  await assert.rejects(
    client.completions.create({ model: MODEL, prompt: 'x', max_tokens: 0 }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400,
  );
  // outside the route: the gateway's own 404
  const r = await fetch(`${base}/nowhere`);
  assert.equal(r.status, 404);
  assert.match(await r.text(), /route not found/);
});
